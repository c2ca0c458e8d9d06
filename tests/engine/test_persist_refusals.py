"""A model file that is missing, not ours, incomplete or inconsistent is refused with the
reason, never loaded half-way."""

from __future__ import annotations

import hashlib

import pytest
import skops.io

from pynomaly import persist
from pynomaly.detect import PipelineConfig, fit
from pynomaly.errors import ArtifactError


def _write_with_sidecar(path, data: bytes) -> None:
    path.write_bytes(data)
    (path.parent / (path.name + ".sha256")).write_text(hashlib.sha256(data).hexdigest())


@pytest.fixture
def payload(easy_frame, tmp_path):
    """The payload of a real saved two-detector model, to be tampered with."""
    frame, _ = easy_frame
    config = PipelineConfig(detectors=(("iforest", {"n_estimators": 20}), ("ecod", {})))
    path = tmp_path / "real.skops"
    persist.save(fit(frame, config), path)
    return skops.io.loads(path.read_bytes(), trusted=persist.trusted_types())


def _refusal(tmp_path, payload) -> str:
    path = tmp_path / "tampered.skops"
    _write_with_sidecar(path, skops.io.dumps(payload))
    with pytest.raises(ArtifactError) as caught:
        persist.load(path)
    return str(caught.value)


def test_a_missing_model_file_is_refused(tmp_path):
    with pytest.raises(ArtifactError, match="model file cannot be read"):
        persist.load(tmp_path / "gone.skops", sha256="0" * 64)


def test_an_empty_checksum_file_is_refused(tmp_path):
    path = tmp_path / "model.skops"
    path.write_bytes(b"anything")
    (tmp_path / "model.skops.sha256").write_text("  \n")

    with pytest.raises(ArtifactError, match="checksum file is empty"):
        persist.load(path)


def test_bytes_that_are_not_a_skops_file_are_refused(tmp_path):
    path = tmp_path / "model.skops"
    _write_with_sidecar(path, b"this is not a zip archive")

    with pytest.raises(ArtifactError, match="not a readable skops file"):
        persist.load(path)


def test_a_skops_file_that_is_not_a_pynomaly_model_is_refused(tmp_path):
    assert "not a Pynomaly model" in _refusal(tmp_path, {"format": "someone-else"})


def test_a_model_without_its_configuration_is_refused(tmp_path, payload):
    del payload["config"]

    assert "model file is incomplete" in _refusal(tmp_path, payload)


def test_a_model_with_a_detector_missing_is_refused(tmp_path, payload):
    payload["detectors"] = payload["detectors"][:1]

    assert "detector count differs from config" in _refusal(tmp_path, payload)


def test_a_model_whose_detectors_are_swapped_is_refused(tmp_path, payload):
    payload["detectors"] = payload["detectors"][::-1]

    assert "iforest holds a pyod.models.ecod.ECOD" in _refusal(tmp_path, payload)


def test_a_saved_model_records_the_library_versions(payload):
    versions = payload["versions"]

    assert set(versions) == {"pynomaly", "pyod", "scikit-learn", "numpy", "skops", "torch"}
    assert versions["numpy"]
