"""The Airflow provider and the Kubeflow component against the real stack: Daphne serving the
app, a real Celery worker, the test database. Airflow and KFP live in venvs of their own
(var/venv-airflow, var/venv-kfp: `make install-integrations`), never in the app's; so this
test prepares a workspace here (datasets, a configuration, a write token), then runs each
package's own pytest suite inside its venv with the server's URL and those ids in
PYNOMALY_TEST_* variables: DagBag / pipeline compile, and the operator's execute(), the
sensors' poke() and the component's function and KFP local run against this server."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.web.runs.factories import blobs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENVS = {"airflow": ROOT / "var" / "venv-airflow", "kubeflow": ROOT / "var" / "venv-kfp"}
PIPELINE = {
    "detectors": [{"key": "iforest", "params": {"n_estimators": 50}}],
    "threshold": {"kind": "contamination", "value": 0.05},
}


def _venv_python(name: str) -> Path:
    python = VENVS[name] / "bin" / "python"
    if not (VENVS[name] / ".installed").exists():
        message = (
            f"{VENVS[name].relative_to(ROOT)} is absent: `make install-integrations` creates it "
            "(the integrations' venvs are not the app's)"
        )
        if os.environ.get("PYNOMALY_REQUIRE_INTEGRATIONS", "") not in ("", "0", "false"):
            pytest.fail(f"PYNOMALY_REQUIRE_INTEGRATIONS is set but {message}")
        pytest.skip(message)
    return python


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


@pytest.fixture
def workspace(live_media, asgi_server, celery_worker, alice, tenant_a, tmp_path):
    """Alice's workspace on the live server: a 600-row dataset, one whose partial training labels
    hold a bad value (an automatic run on it fails), an IForest configuration, a write token."""
    from apps.api.services import token_create
    from pynomaly.client import Client

    _token, raw = token_create(user=alice, tenant=tenant_a, name="orchestration", scope="write")
    good = tmp_path / "sensors.csv"
    blobs(600).to_csv(good, index=False)
    bad_frame = blobs(300)
    known = np.full(300, "", dtype=object)
    known[:8], known[100:160], known[5] = "1", "0", "yes"
    bad_frame["known"] = known
    bad = tmp_path / "bad-labels.csv"
    bad_frame.to_csv(bad, index=False)
    upload = tmp_path / "sensors-next.csv"  # a second version of "sensors"
    blobs(300, seed=1).to_csv(upload, index=False)

    with Client(asgi_server.url, raw) as api:
        dataset = api.datasets.upload(good, name="sensors", progress=False).wait(0.2, 60)
        bad_dataset = api.datasets.upload(bad, name="bad labels", progress=False).wait(0.2, 60)
        config = api.detector_configs.create("forest", PIPELINE)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COVERAGE", "PYTEST", "DJANGO")) and k != "PYTHONPATH"
    }
    env.update(
        PYNOMALY_TEST_URL=asgi_server.url,
        PYNOMALY_TEST_TOKEN=raw,
        PYNOMALY_TEST_DATASET_ID=str(dataset.id),
        PYNOMALY_TEST_BAD_DATASET_ID=str(bad_dataset.id),
        PYNOMALY_TEST_CONFIG_ID=str(config.id),
        PYNOMALY_TEST_UPLOAD_CSV=str(upload),
    )
    return env


@pytest.fixture
def airflow_python() -> Path:
    return _venv_python("airflow")  # before the server starts: a skip costs nothing


@pytest.fixture
def kfp_python() -> Path:
    return _venv_python("kubeflow")


def _run_suite(name: str, python: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"],
        cwd=ROOT / "integrations" / name,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    (summary,) = re.findall(r"^(?:=+ )?(\d+ passed.*) in [\d.]+s", out, flags=re.M) or [out[-500:]]
    assert "skipped" not in summary and "failed" not in summary, out[-6000:]
    return summary


def test_the_airflow_provider_against_the_live_server(airflow_python, workspace):
    summary = _run_suite("airflow", airflow_python, workspace)
    assert summary.startswith("8 passed"), summary


def test_the_kubeflow_component_against_the_live_server(kfp_python, workspace):
    summary = _run_suite("kubeflow", kfp_python, workspace)
    assert summary.startswith("5 passed"), summary
