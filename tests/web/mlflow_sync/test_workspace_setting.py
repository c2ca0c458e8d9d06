"""A workspace's own MLflow tracking server: the admins' page (validation, roles, tenancy, audit),
the secret encrypted at rest and never shown back, and runs logged to the workspace's store
(a real sqlite MLflow store, read back with MlflowClient) while the environment names none."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.common import secrets
from apps.mlflow_sync import services
from apps.mlflow_sync.models import MlflowSetting, MlflowSync
from apps.mlflow_sync.tasks import log_run
from tests.web.mlflow_sync.test_logging import _finished_run

SECRET = "s3cr3t-token-value"


@pytest.fixture(autouse=True)
def local_stores(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 3600
    settings.MLFLOW_WORKSPACE_LOCAL_STORES = True
    settings.MLFLOW_TRACKING_URI = ""
    monkeypatch.chdir(tmp_path)  # a sqlite store keeps its artifacts in ./mlruns


def _url(tenant) -> str:
    return reverse("mlflow_sync:setting", kwargs={"tenant_slug": tenant.slug})


def _store(tmp_path, name: str = "workspace") -> str:
    return f"sqlite:///{tmp_path / f'{name}.db'}"


def test_the_settings_page_links_to_it_for_admins(alice_client, tenant_a):
    page = alice_client.get(reverse("tenants:settings", kwargs={"tenant_slug": tenant_a.slug}))
    assert _url(tenant_a) in page.content.decode()


def test_the_page_says_what_is_in_effect(alice_client, tenant_a, settings, tmp_path):
    page = alice_client.get(_url(tenant_a)).content.decode()
    assert "runs are not logged to MLflow" in page
    settings.MLFLOW_TRACKING_URI = "http://operator:hunter2@mlflow.internal:5000"
    page = alice_client.get(_url(tenant_a)).content.decode()
    assert "The server's own tracking URI" in page
    assert (
        "hunter2" not in page and "mlflow.internal" not in page
    )  # the operator's URI stays theirs
    uri = _store(tmp_path)
    response = alice_client.post(
        _url(tenant_a), {"enabled": "on", "tracking_uri": uri, "auth": "none"}
    )
    assert response.status_code == 302
    page = alice_client.get(_url(tenant_a)).content.decode()
    assert "This workspace's setting" in page and uri in page
    assert "is not used for this workspace" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tracking_uri": "ftp://mlflow.example.com", "auth": "none"}, "http:// or https://"),
        ({"tracking_uri": "", "auth": "none"}, "Give the tracking server"),
        (
            {"tracking_uri": "http://u:p@10.1.2.3:5000", "auth": "none"},
            "Put no credentials in the URI",
        ),
        ({"tracking_uri": "http://127.0.0.1:5000", "auth": "none"}, "loopback"),
        (
            {"tracking_uri": "http://10.1.2.3:5000", "auth": "basic", "secret": "x"},
            "need the username",
        ),
        ({"tracking_uri": "http://10.1.2.3:5000", "auth": "token"}, "Give the token."),
        ({"tracking_uri": "http://10.1.2.3:5000", "auth": "kerberos"}, "Select a valid choice"),
    ],
)
def test_a_refused_form_is_422_with_the_reason_and_saves_nothing(
    alice_client, tenant_a, settings, data, message
):
    settings.PYNOMALY_OUTBOUND_ALLOW = []
    response = alice_client.post(_url(tenant_a), {"enabled": "on", **data})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not MlflowSetting.objects.exists()
    assert not AuditEvent.objects.filter(action="tenant.mlflow_updated").exists()


def test_local_stores_need_the_server_setting(alice_client, tenant_a, settings, tmp_path):
    settings.MLFLOW_WORKSPACE_LOCAL_STORES = False
    for uri in (_store(tmp_path), f"file://{tmp_path / 'mlruns'}"):
        response = alice_client.post(
            _url(tenant_a), {"enabled": "on", "tracking_uri": uri, "auth": "none"}
        )
        assert response.status_code == 422
        assert "MLFLOW_WORKSPACE_LOCAL_STORES" in response.content.decode()
    assert not MlflowSetting.objects.exists()


def test_members_below_admin_get_403(bob_client, vera_client, tenant_a, tmp_path):
    for client in (bob_client, vera_client):
        assert client.get(_url(tenant_a)).status_code == 403
        data = {"enabled": "on", "tracking_uri": _store(tmp_path), "auth": "none"}
        assert client.post(_url(tenant_a), data).status_code == 403
    assert not MlflowSetting.objects.exists()


def test_another_workspace_cannot_see_or_change_it(
    alice_client, charlie_client, tenant_a, tenant_b, tmp_path
):
    uri = _store(tmp_path)
    alice_client.post(_url(tenant_a), {"enabled": "on", "tracking_uri": uri, "auth": "none"})
    assert charlie_client.get(_url(tenant_a)).status_code == 404
    other = {"enabled": "on", "tracking_uri": _store(tmp_path, "other"), "auth": "none"}
    assert charlie_client.post(_url(tenant_a), other).status_code == 404
    assert MlflowSetting.objects.get(tenant=tenant_a).tracking_uri == uri
    # charlie's own page is his workspace's: empty, and A's URI is nowhere on it
    page = charlie_client.get(_url(tenant_b)).content.decode()
    assert uri not in page
    assert services.uri_in_effect(tenant_b.pk) == ("", "")


def test_the_secret_is_stored_encrypted_never_shown_and_audited_without_it(
    alice_client, tenant_a, tmp_path
):
    uri = _store(tmp_path)
    data = {"enabled": "on", "tracking_uri": uri, "auth": "token", "secret": SECRET}
    assert alice_client.post(_url(tenant_a), data).status_code == 302
    setting = MlflowSetting.objects.get(tenant=tenant_a)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT secret_encrypted FROM {MlflowSetting._meta.db_table} WHERE id = %s",
            [setting.pk],
        )
        (raw,) = cursor.fetchone()
    assert raw and SECRET not in raw and secrets.decrypt(raw) == SECRET
    page = alice_client.get(_url(tenant_a)).content.decode()
    assert SECRET not in page and "stored" in page
    event = AuditEvent.objects.get(action="tenant.mlflow_updated")
    assert SECRET not in str(event.details) and event.details["credential_changed"] is True
    # a blank secret keeps it; another kind of credential needs a new one
    keep = {"enabled": "on", "tracking_uri": uri, "auth": "token", "secret": ""}
    assert alice_client.post(_url(tenant_a), keep).status_code == 302
    setting.refresh_from_db()
    assert secrets.decrypt(setting.secret_encrypted) == SECRET
    switch = {"enabled": "on", "tracking_uri": uri, "auth": "basic", "username": "ml"}
    assert alice_client.post(_url(tenant_a), switch).status_code == 422
    # no credentials removes it
    none = {"enabled": "on", "tracking_uri": uri, "auth": "none"}
    assert alice_client.post(_url(tenant_a), none).status_code == 302
    setting.refresh_from_db()
    assert setting.secret_encrypted == ""


def test_reencrypt_secrets_rotates_the_mlflow_secret(alice, tenant_a, settings, tmp_path):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PYNOMALY_SECRETS_KEYS = [old]
    services.setting_save(
        tenant=tenant_a, enabled=True, tracking_uri=_store(tmp_path), auth="token", secret=SECRET
    )
    settings.PYNOMALY_SECRETS_KEYS = [new, old]
    call_command("reencrypt_secrets")
    settings.PYNOMALY_SECRETS_KEYS = [new]
    token = MlflowSetting.objects.get(tenant=tenant_a).secret_encrypted
    assert secrets.decrypt(token) == SECRET


def test_a_run_is_logged_to_the_workspace_store_and_registered_there(
    alice, tenant_a, alice_client, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    from mlflow.tracking import MlflowClient

    uri = _store(tmp_path)
    data = {"enabled": "on", "tracking_uri": uri, "auth": "token", "secret": SECRET}
    assert alice_client.post(_url(tenant_a), data).status_code == 302
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "the-operators-token")
    run, callbacks = _finished_run(tenant_a, alice, django_capture_on_commit_callbacks)
    sent = []
    monkeypatch.setattr(log_run, "delay", lambda pk: sent.append(pk))
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()  # the run_finished signal queues the MLflow task
    sync = MlflowSync.objects.get(run=run)
    assert sent == [sync.pk] and sync.tracking_uri == uri
    log_run.run(sync.pk)
    sync.refresh_from_db()
    assert sync.status == MlflowSync.Status.LOGGED, sync.error
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == "the-operators-token"  # restored after the call

    logged = MlflowClient(tracking_uri=uri).get_run(sync.mlflow_run_id)
    assert logged.data.params["pynomaly_run_id"] == str(run.pk)
    experiment = MlflowClient(tracking_uri=uri).get_experiment(logged.info.experiment_id)
    assert experiment.name == f"pynomaly/{tenant_a.slug}"

    register = reverse(
        "mlflow_sync:register",
        kwargs={"tenant_slug": tenant_a.slug, "model_id": run.trained_model.pk},
    )
    assert alice_client.post(register, {"name": "workspace-model"}).status_code == 302
    version = MlflowClient(tracking_uri=uri).get_model_version("workspace-model", "1")
    assert version.run_id == sync.mlflow_run_id


def test_a_pending_retry_goes_where_the_workspace_logs_now(
    alice, tenant_a, settings, tmp_path, django_capture_on_commit_callbacks
):
    from mlflow.tracking import MlflowClient

    settings.MLFLOW_TRACKING_URI = _store(tmp_path, "environment")
    run, _ = _finished_run(tenant_a, alice, django_capture_on_commit_callbacks)
    sync = services.sync_for_finished_run(run_id=run.pk)
    assert sync.tracking_uri == settings.MLFLOW_TRACKING_URI
    uri = _store(tmp_path)
    services.setting_save(tenant=tenant_a, enabled=True, tracking_uri=uri, auth="none")
    services.log(sync)  # the retry (task or sweeper) of a row nothing was logged for yet
    sync.refresh_from_db()
    assert sync.status == MlflowSync.Status.LOGGED and sync.tracking_uri == uri
    assert MlflowClient(tracking_uri=uri).get_run(sync.mlflow_run_id).info.status == "FINISHED"
    # turned off, the environment's URI is in effect again
    services.setting_save(tenant=tenant_a, enabled=False, tracking_uri=uri, auth="none")
    assert services.uri_in_effect(tenant_a.pk) == (settings.MLFLOW_TRACKING_URI, "environment")


def test_credentials_are_in_the_environment_only_during_the_call(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "operator")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    target = services.Target("http://10.1.2.3:5000", services.WORKSPACE, token=SECRET)
    assert SECRET not in repr(target)
    with services._credentials(target):
        assert os.environ.get("MLFLOW_TRACKING_TOKEN") == SECRET
        assert "MLFLOW_TRACKING_USERNAME" not in os.environ  # the operator's never go there
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "operator"
    assert "MLFLOW_TRACKING_TOKEN" not in os.environ


def test_save_and_test_says_whether_mlflow_answers(alice_client, tenant_a, settings, tmp_path):
    import socket

    uri = _store(tmp_path)
    data = {"enabled": "on", "tracking_uri": uri, "auth": "none", "test": "1"}
    page = alice_client.post(_url(tenant_a), data, follow=True).content.decode()
    assert "MLflow answered: the connection works." in page

    settings.PYNOMALY_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = {"enabled": "on", "tracking_uri": f"http://127.0.0.1:{port}", "auth": "token"}
    data |= {"secret": SECRET, "test": "1"}
    page = alice_client.post(_url(tenant_a), data, follow=True).content.decode()
    assert "MLflow did not answer" in page and SECRET not in page
