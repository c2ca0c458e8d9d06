"""Registering a logged model in MLflow's model registry: the page, the API, the SDK and the CLI,
against a real MLflow store (sqlite), read back with MlflowClient."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.mlflow_sync import services
from apps.mlflow_sync.models import MlflowSync
from tests.web.mlflow_sync.test_logging import _closed_port, _finished_run

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def logged(alice, tenant_a, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    """A succeeded run of tenant A logged to a sqlite MLflow store: (run, sync, tracking uri)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 3600
    monkeypatch.chdir(tmp_path)  # a sqlite store keeps its artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings.MLFLOW_TRACKING_URI = uri
    run, _ = _finished_run(tenant_a, alice, django_capture_on_commit_callbacks)
    sync = services.sync_for_finished_run(run_id=run.pk)
    services.log(sync)
    sync.refresh_from_db()
    assert sync.status == MlflowSync.Status.LOGGED
    return run, sync, uri


def _registry_version(uri: str, name: str, version: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri).get_model_version(name, version)


def test_the_run_page_links_to_a_form_that_registers_the_model(logged, alice_client, tenant_a):
    run, sync, uri = logged
    detail = reverse("runs:detail", kwargs={"tenant_slug": tenant_a.slug, "run_id": run.pk})
    url = reverse(
        "mlflow_sync:register",
        kwargs={"tenant_slug": tenant_a.slug, "model_id": run.trained_model.pk},
    )
    assert url in alice_client.get(detail).content.decode()
    assert 'name="name"' in alice_client.get(url).content.decode()

    bad = alice_client.post(url, {"name": "../etc"})
    assert bad.status_code == 422
    assert "starting with a letter or digit" in bad.content.decode()
    sync.refresh_from_db()
    assert sync.registered_name == ""

    done = alice_client.post(url, {"name": "card fraud"}, follow=True)
    assert done.redirect_chain[-1][0] == detail
    page = done.content.decode()
    assert "registered in MLflow as card fraud version 1" in page
    assert "registered as card fraud v1" in page
    assert _registry_version(uri, "card fraud", "1").run_id == sync.mlflow_run_id
    assert AuditEvent.objects.filter(action="model.mlflow_registered", tenant=tenant_a).count() == 1


def test_a_viewer_sees_no_link_and_may_not_register(logged, vera_client, tenant_a):
    run, _, _ = logged
    detail = reverse("runs:detail", kwargs={"tenant_slug": tenant_a.slug, "run_id": run.pk})
    url = reverse(
        "mlflow_sync:register",
        kwargs={"tenant_slug": tenant_a.slug, "model_id": run.trained_model.pk},
    )
    assert url not in vera_client.get(detail).content.decode()
    assert vera_client.post(url, {"name": "x"}).status_code == 403


def test_the_api_registers_versions_and_refuses_what_it_cannot(logged, alice, tenant_a, client):
    from apps.api.services import token_create

    run, sync, uri = logged
    token = token_create(user=alice, tenant=tenant_a, name="mlflow", scope="write")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    path = f"/api/v1/models/{run.trained_model.pk}/mlflow/register"

    def post(body):
        return client.post(path, body, content_type="application/json", **auth)

    first, second = post({"name": "fraud"}), post({"name": "fraud"})
    assert first.status_code == 200 and first.json()["registered_version"] == "1"
    assert second.json() == {**second.json(), "registered_name": "fraud", "registered_version": "2"}
    assert _registry_version(uri, "fraud", "2").run_id == sync.mlflow_run_id

    bad = post({"name": "a/b"})
    assert bad.status_code == 422 and bad["Content-Type"] == "application/problem+json"
    assert bad.json()["errors"][0]["loc"] == ["body", "name"]

    # MLflow down: 503, nothing recorded as registered
    MlflowSync.objects.filter(pk=sync.pk).update(tracking_uri=f"http://127.0.0.1:{_closed_port()}")
    down = post({"name": "other"})
    assert down.status_code == 503 and "MLflow did not register" in down.json()["detail"]
    sync.refresh_from_db()
    assert sync.registered_name == "fraud"

    # not logged (yet): 409 with the reason
    MlflowSync.objects.filter(pk=sync.pk).update(status=MlflowSync.Status.FAILED)
    refused = post({"name": "fraud"})
    assert refused.status_code == 409 and "not logged" in refused.json()["detail"]
    MlflowSync.objects.filter(pk=sync.pk).delete()
    off = post({"name": "fraud"})
    assert off.status_code == 409 and "not logged to MLflow" in off.json()["detail"]

    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/models/{model_id}/mlflow/register"]["post"]
    assert {"409", "422", "503"} <= set(operation["responses"])


@pytest.mark.integration
def test_the_sdk_and_cli_register_a_model_on_a_live_server(logged, asgi_server, alice, tenant_a,
                                                           tmp_path):  # fmt: skip
    from apps.api.services import token_create
    from pynomaly.client import Client

    run, sync, uri = logged
    model_id = run.trained_model.pk
    token = token_create(user=alice, tenant=tenant_a, name="mlflow cli", scope="write")[1]
    with Client(asgi_server.url, token) as api:
        assert api.models.mlflow(model_id).status == "logged"
        state = api.models.register(model_id, "sdk-model")
        assert (state.registered_name, state.registered_version) == ("sdk-model", "1")

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYNOMALY_CONFIG": str(tmp_path / "cli.json")}

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "pynomaly", *map(str, args)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip

    assert cli("login", asgi_server.url, "--token", token).returncode == 0
    done = cli("models", "register", model_id, "cli-model")
    assert done.returncode == 0, done.stderr
    assert f"model {model_id}: MLflow logged" in done.stdout
    assert "registered as cli-model v1" in done.stdout
    assert _registry_version(uri, "cli-model", "1").run_id == sync.mlflow_run_id
    listed = cli("models", "list")
    assert listed.returncode == 0 and str(run.pk) in listed.stdout
    bad = cli("models", "register", model_id, "!")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "letter or digit" in bad.stderr
