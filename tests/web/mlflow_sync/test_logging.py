"""A finished run logged to a real MLflow store (sqlite), read back with MlflowClient; an
unreachable server never fails the run, is recorded on the row and retried."""

import json
import socket
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apps.mlflow_sync import services
from apps.mlflow_sync.models import MlflowSync
from apps.mlflow_sync.tasks import log_run
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from tests.web.runs.factories import blobs, make_config, make_run, make_version

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 3600
    return tmp_path / "media"


def _finished_run(tenant, user, django_capture_on_commit_callbacks):
    version = make_version(tenant, blobs(300))
    run = make_run(tenant, user, version, make_config(tenant, user), label_column="is_anomaly")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    return run, callbacks


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_finished_run_is_logged_with_params_metrics_model_and_explanation(
    alice, tenant_a, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    from mlflow.tracking import MlflowClient

    from pynomaly import data, persist

    monkeypatch.chdir(tmp_path)  # a sqlite store keeps its artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings.MLFLOW_TRACKING_URI = uri
    run, _ = _finished_run(tenant_a, alice, django_capture_on_commit_callbacks)
    sync = services.sync_for_finished_run(run_id=run.pk)
    assert sync is not None and sync.status == MlflowSync.Status.PENDING
    services.log(sync)
    sync.refresh_from_db()
    assert sync.status == MlflowSync.Status.LOGGED and sync.attempts == 1 and sync.error == ""

    client = MlflowClient(tracking_uri=uri)
    logged = client.get_run(sync.mlflow_run_id)
    params, metrics = logged.data.params, logged.data.metrics
    assert params["detector"] == ",".join(run.detector_version.detector_keys)
    assert params["dataset_sha256"] == run.dataset_version.sha256
    assert params["dataset_version"] == str(run.dataset_version.number)
    assert float(params["threshold"]) == pytest.approx(run.threshold)
    assert metrics["anomaly_count"] == run.summary["anomalies"]
    assert metrics["roc_auc"] == pytest.approx(run.metrics["roc_auc"])
    assert metrics["average_precision"] == pytest.approx(run.metrics["average_precision"])
    assert any(k.startswith("duration_") for k in metrics)
    assert logged.info.status == "FINISHED"

    model_dir = Path(client.download_artifacts(sync.mlflow_run_id, "model", str(tmp_path / "dl")))
    files = sorted(p.name for p in model_dir.iterdir())
    skops_file = next(model_dir / f for f in files if not f.endswith(".sha256"))
    assert skops_file.read_bytes() == Path(run.trained_model.artifact.path).read_bytes()
    fitted = persist.load(skops_file)  # the logged .sha256 sidecar verifies it
    df = data.read_parquet(run.dataset_version.parquet.path)
    scores = fitted.score(df).scores
    expected = pd.read_parquet(run.results.path)["score"].to_numpy()
    np.testing.assert_allclose(scores, expected)

    assert run.summary["explanation"]
    summary_path = client.download_artifacts(
        sync.mlflow_run_id, "explanation/summary.json", str(tmp_path / "dl2")
    )
    assert json.loads(Path(summary_path).read_text()) == run.summary["explanation"]

    services.register(sync, name="fraud-detector")
    assert sync.registered_version == "1"
    version = client.get_model_version("fraud-detector", "1")
    assert version.run_id == sync.mlflow_run_id


def test_an_unreachable_mlflow_never_fails_the_run_and_is_retried(
    alice, tenant_a, settings, monkeypatch, django_capture_on_commit_callbacks
):
    # No MLFLOW_HTTP_REQUEST_MAX_RETRIES here: the service turns MLflow's own retries off
    # (with them on, this test takes minutes). Taken out of the environment for the test.
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{_closed_port()}"
    run, callbacks = _finished_run(tenant_a, alice, django_capture_on_commit_callbacks)
    # The run's own on-commit callbacks (the run_finished signal) queue the MLflow task.
    sent = []
    monkeypatch.setattr(log_run, "delay", lambda pk: sent.append(pk))
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    sync = MlflowSync.objects.get(run=run)
    assert sent == [sync.pk]
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        log_run.run(sync.pk)
    sync.refresh_from_db()
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert sync.status == MlflowSync.Status.FAILED and sync.attempts == 1
    assert "Connection" in sync.error or "connect" in sync.error.lower()
    assert log_run.autoretry_for == (Exception,) and log_run.max_retries >= 3
    # The sweeper sends it again once it has been quiet for a while.
    MlflowSync.objects.filter(pk=sync.pk).update(updated_at=sync.updated_at - timedelta(minutes=10))
    assert services.sweep() == 1 and sent == [sync.pk, sync.pk]


def test_nothing_is_queued_without_a_tracking_uri(
    alice, tenant_a, settings, django_capture_on_commit_callbacks
):
    settings.MLFLOW_TRACKING_URI = ""
    run, _ = _finished_run(tenant_a, alice, django_capture_on_commit_callbacks)
    assert services.sync_for_finished_run(run_id=run.pk) is None


def test_the_run_page_shows_the_mlflow_state(
    alice, tenant_a, alice_client, settings, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:5000"
    run, _ = _finished_run(tenant_a, alice, django_capture_on_commit_callbacks)
    url = reverse("runs:detail", kwargs={"tenant_slug": tenant_a.slug, "run_id": run.pk})
    assert "run-mlflow" not in alice_client.get(url).content.decode()
    sync = services.sync_for_finished_run(run_id=run.pk)
    MlflowSync.objects.filter(pk=sync.pk).update(
        status=MlflowSync.Status.FAILED, attempts=2, error="ConnectionError: refused"
    )
    page = alice_client.get(url).content.decode()
    assert "failed: ConnectionError: refused" in page and "retrying (attempt 2)" in page
    MlflowSync.objects.filter(pk=sync.pk).update(
        status=MlflowSync.Status.LOGGED, experiment_id="3", mlflow_run_id="abc123"
    )
    page = alice_client.get(url).content.decode()
    assert 'href="http://127.0.0.1:5000/#/experiments/3/runs/abc123"' in page
