"""GET /models/{id}/mlflow: the MLflow state of a trained model's run, scoped to the workspace."""

import pytest

from apps.mlflow_sync import services
from apps.mlflow_sync.models import MlflowSync
from apps.runs.tasks import execute_run
from tests.web.runs.factories import blobs, make_config, make_run, make_version


@pytest.fixture
def trained(alice, tenant_a, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 3600
    run = make_run(
        tenant_a, alice, make_version(tenant_a, blobs(200)), make_config(tenant_a, alice)
    )
    with django_capture_on_commit_callbacks(execute=False):
        execute_run(run.pk)
    run.refresh_from_db()
    return run.trained_model


def test_off_then_failed_with_its_reason(alice_api, charlie_api, trained, settings):
    body = alice_api.get(f"/models/{trained.pk}/mlflow").json()
    assert body["status"] == "off" and body["attempts"] == 0
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    sync = services.sync_for_finished_run(run_id=trained.run_id)
    MlflowSync.objects.filter(pk=sync.pk).update(status="failed", attempts=3, error="refused")
    body = alice_api.get(f"/models/{trained.pk}/mlflow").json()
    assert body["status"] == "failed" and body["attempts"] == 3 and body["error"] == "refused"
    assert charlie_api.get(f"/models/{trained.pk}/mlflow").status_code == 404
