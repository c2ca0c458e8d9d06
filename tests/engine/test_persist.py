"""Saved models load back identical, and anything tampered or foreign is refused."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import skops.io

from pynomaly import persist
from pynomaly.detect import PipelineConfig, detect
from pynomaly.errors import ArtifactError


@pytest.fixture
def saved(easy_frame, tmp_path):
    frame, _ = easy_frame
    config = PipelineConfig(detectors=(("iforest", {"n_estimators": 30}), ("ecod", {})))
    fitted, result = detect(frame, config)
    path = tmp_path / "model.skops"
    digest = persist.save(fitted, path)
    return path, digest, fitted, result, frame


def _write_with_sidecar(path, data: bytes) -> None:
    path.write_bytes(data)
    (path.parent / (path.name + ".sha256")).write_text(hashlib.sha256(data).hexdigest())


def test_a_saved_model_scores_identically_after_loading(saved):
    path, digest, fitted, result, frame = saved

    loaded = persist.load(path, sha256=digest)

    np.testing.assert_array_equal(loaded.score(frame).scores, result.scores)
    assert loaded.threshold_ == fitted.threshold_
    assert loaded.config == fitted.config
    assert loaded.feature_names == fitted.feature_names


def test_save_returns_the_files_sha256_and_writes_it_beside_the_file(saved):
    path, digest, *_ = saved

    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (path.parent / "model.skops.sha256").read_text().split()[0] == digest


def test_a_file_with_one_flipped_byte_is_refused(saved):
    path, *_ = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(ArtifactError, match="modified"):
        persist.load(path)


def test_a_model_without_its_checksum_file_is_refused(saved):
    path, *_ = saved
    (path.parent / "model.skops.sha256").unlink()

    with pytest.raises(ArtifactError, match="checksum file is missing"):
        persist.load(path)


def test_a_wrong_expected_digest_is_refused(saved):
    path, *_ = saved

    with pytest.raises(ArtifactError, match="modified"):
        persist.load(path, sha256="0" * 64)


def test_a_file_referencing_os_system_is_refused_even_with_a_valid_checksum(tmp_path):
    import os

    path = tmp_path / "evil.skops"
    _write_with_sidecar(path, skops.io.dumps({"format": "pynomaly-model", "run": os.system}))

    with pytest.raises(ArtifactError, match="does not trust.*system"):
        persist.load(path)


def test_a_file_holding_an_unlisted_class_is_refused(tmp_path, easy):
    from pyod.models.lmdd import LMDD  # noqa: F401 - a PyOD class outside our allowlist
    from pyod.models.rgraph import RGraph

    X, _ = easy
    path = tmp_path / "foreign.skops"
    _write_with_sidecar(path, skops.io.dumps({"format": "pynomaly-model", "x": RGraph()}))

    with pytest.raises(ArtifactError, match="RGraph"):
        persist.load(path)


def test_an_unknown_format_version_is_refused(tmp_path):
    path = tmp_path / "future.skops"
    _write_with_sidecar(path, skops.io.dumps({"format": "pynomaly-model", "format_version": 99}))

    with pytest.raises(ArtifactError, match="version 99"):
        persist.load(path)


def test_a_model_with_an_unsaveable_detector_is_not_saved(easy_frame, tmp_path):
    frame, _ = easy_frame
    fitted, _ = detect(frame, PipelineConfig(detectors=(("lmdd", {"n_iter": 5}),)))

    with pytest.raises(ArtifactError, match="LMDD models cannot be saved"):
        persist.save(fitted, tmp_path / "m.skops")
    assert not (tmp_path / "m.skops").exists()
