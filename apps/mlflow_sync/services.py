"""Log a finished run to MLflow: parameters, metrics, the model file as saved, the explanation.

MLflow is optional: a workspace's own setting (:class:`MlflowSetting`, when enabled) or else
the server's ``MLFLOW_TRACKING_URI``. Nothing here may fail a run: the sync row records the
error and the task is retried with backoff, then by the sweeper.

MLflow's client reads credentials only from the process environment
(``MLFLOW_TRACKING_USERNAME``/``PASSWORD``/``TOKEN``): every call to MLflow runs inside
:func:`_credentials`, which holds one lock, puts the workspace's credentials there (and takes
the operator's away for a workspace server) and restores the environment afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.common import netguard, secrets
from apps.common.storage import local_path
from apps.runs.models import Run

from .models import MlflowSetting, MlflowSync

logger = logging.getLogger(__name__)

EXPERIMENT_PREFIX = "pynomaly"


def tracking_uri() -> str:
    """The server's own tracking URI (the environment's ``MLFLOW_TRACKING_URI``), or ""."""
    return (getattr(settings, "MLFLOW_TRACKING_URI", "") or "").strip()


ENVIRONMENT, WORKSPACE = "environment", "workspace"
LOCAL_SCHEMES = ("file", "sqlite")
# What MLflow's client reads from the environment to authenticate; a workspace server gets
# exactly its own values here (or none), never the operator's.
CREDENTIAL_VARIABLES = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_AUTH",
    "MLFLOW_TRACKING_AWS_SIGV4",
)


class MlflowUnavailable(Exception):
    """MLflow refused or could not be reached."""


@dataclass(frozen=True)
class Target:
    """Where one workspace's runs go, and with which credentials (never in a repr or a log)."""

    uri: str
    source: str  # ENVIRONMENT or WORKSPACE
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)


def local_stores_allowed() -> bool:
    return bool(getattr(settings, "MLFLOW_WORKSPACE_LOCAL_STORES", False))


def redact_uri(uri: str) -> str:
    """``uri`` without a user name or password in it (for pages and the audit trail)."""
    try:
        parts = urlsplit(uri)
        if not (parts.username or parts.password):
            return uri
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "(a URI that does not parse)"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def check_workspace_uri(uri: str) -> str | None:
    """Why ``uri`` cannot be a workspace's tracking URI, or None.

    http(s) only, its host checked by the network guard (again before each use); ``file:`` and
    ``sqlite:`` stores on this server's disk only with ``MLFLOW_WORKSPACE_LOCAL_STORES``.
    """
    uri = (uri or "").strip()
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return "The URI's port is not valid."
    if parts.scheme.lower() in LOCAL_SCHEMES:
        if local_stores_allowed():
            return None
        return (
            "Give an http:// or https:// tracking server: stores on this server's disk "
            "(file:, sqlite:) are only allowed when MLFLOW_WORKSPACE_LOCAL_STORES is on."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Give an http:// or https:// URI of an MLflow tracking server."
    if parts.username or parts.password:
        return "Put no credentials in the URI; use the credential fields instead."
    try:
        netguard.resolve_allowed(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    except netguard.HostRefused as exc:
        if exc.code == "dns":
            return None  # a name that does not resolve yet may later; each attempt says why not
        return str(exc.message)
    return None


def workspace_setting(tenant_id: int) -> MlflowSetting | None:
    return MlflowSetting.objects.filter(tenant_id=tenant_id).first()


def uri_in_effect(tenant_id: int) -> tuple[str, str]:
    """(uri, source) this workspace's runs are logged to now; ("", "") when MLflow is off."""
    setting = workspace_setting(tenant_id)
    if setting is not None and setting.enabled and setting.tracking_uri:
        return setting.tracking_uri, WORKSPACE
    uri = tracking_uri()
    return (uri, ENVIRONMENT) if uri else ("", "")


def target_for(sync: MlflowSync) -> Target:
    """How to reach the row's tracking URI: as the environment says when the server's own URI
    named it; else with the workspace's credentials while its setting still names this URI,
    without any (but still guarded) when the setting has moved on.

    Raises :class:`MlflowUnavailable` when the stored secret cannot be decrypted.
    """
    uri = sync.tracking_uri
    if not sync.from_workspace:
        return Target(uri, ENVIRONMENT)
    setting = workspace_setting(sync.tenant_id)
    if setting is None or setting.tracking_uri != uri:
        return Target(uri, WORKSPACE)
    return _setting_target(setting)


def _setting_target(setting: MlflowSetting) -> Target:
    uri = setting.tracking_uri
    try:
        secret = secrets.decrypt(setting.secret_encrypted)
    except secrets.SecretUnreadable as exc:
        raise MlflowUnavailable(str(exc.message)) from None
    if setting.auth == MlflowSetting.Auth.BASIC:
        return Target(uri, WORKSPACE, username=setting.username, password=secret)
    if setting.auth == MlflowSetting.Auth.TOKEN:
        return Target(uri, WORKSPACE, token=secret)
    return Target(uri, WORKSPACE)


_ENV_LOCK = threading.RLock()


@contextmanager
def _credentials(target: Target) -> Iterator[None]:
    """MLflow calls for ``target``: a host the guard refuses is refused; the lock is held with
    the target's credentials (only those) in the environment, restored afterwards."""
    if target.source == WORKSPACE:
        reason = check_workspace_uri(target.uri)
        if reason:
            raise MlflowUnavailable(reason)
    with _ENV_LOCK:
        if target.source == ENVIRONMENT:
            yield  # the operator's own environment, untouched (the lock keeps it so)
            return
        saved = {name: os.environ.get(name) for name in CREDENTIAL_VARIABLES}
        wanted = {
            "MLFLOW_TRACKING_USERNAME": target.username,
            "MLFLOW_TRACKING_PASSWORD": target.password,
            "MLFLOW_TRACKING_TOKEN": target.token,
        }
        try:
            for name in CREDENTIAL_VARIABLES:
                if wanted.get(name):
                    os.environ[name] = wanted[name]
                else:
                    os.environ.pop(name, None)
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def sync_for_finished_run(*, run_id: int) -> MlflowSync | None:
    """Create the pending row for a succeeded run when MLflow is configured (idempotent)."""
    run = Run.objects.filter(pk=run_id, status=Run.Status.SUCCEEDED).first()
    if run is None:
        return None
    uri, source = uri_in_effect(run.tenant_id)
    if not uri:
        return None
    sync, _ = MlflowSync.objects.get_or_create(
        run=run,
        defaults={
            "tenant_id": run.tenant_id,
            "tracking_uri": uri,
            "from_workspace": source == WORKSPACE,
        },
    )
    return sync


def _retarget(sync: MlflowSync) -> None:
    """Until something is logged, a retry goes where the workspace logs now (a changed setting);
    after that it continues the MLflow run it started, on that server."""
    if sync.mlflow_run_id:
        return
    uri, source = uri_in_effect(sync.tenant_id)
    from_workspace = source == WORKSPACE
    if uri and (uri, from_workspace) != (sync.tracking_uri, sync.from_workspace):
        sync.tracking_uri, sync.from_workspace, sync.experiment_id = uri, from_workspace, ""
        MlflowSync.objects.filter(pk=sync.pk).update(
            tracking_uri=uri, from_workspace=from_workspace, experiment_id=""
        )


def enqueue(sync: MlflowSync) -> None:
    from .tasks import log_run

    transaction.on_commit(lambda: log_run.delay(sync.pk))


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    # Our task retries with backoff (and the sweeper after it): MLflow's own HTTP retries
    # (7 by default, with backoff) would hold a worker for minutes per attempt on a dead server.
    # An operator's own setting of either variable wins.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client, run: Run) -> str:
    name = f"{EXPERIMENT_PREFIX}/{run.tenant.slug}"
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name)


def run_params(run: Run) -> dict[str, str]:
    pipeline = run.detector_version.pipeline or {}
    detectors = pipeline.get("detectors") or []
    keys = [d[0] if isinstance(d, (list, tuple)) else d.get("key") for d in detectors]
    version = run.dataset_version
    threshold = pipeline.get("threshold") or {}
    params = {
        "detector": ",".join(str(k) for k in keys),
        "detector_params": json.dumps(detectors, sort_keys=True, default=str)[:6000],
        "threshold_kind": str(threshold.get("kind", "")),
        "threshold_value": str(threshold.get("value", "")),
        "threshold": "" if run.threshold is None else repr(float(run.threshold)),
        "dataset_id": str(version.dataset_id),
        "dataset_version": str(version.number),
        "dataset_sha256": version.sha256,
        "pynomaly_run_id": str(run.pk),
    }
    if threshold.get("kind") == "contamination":
        params["contamination"] = str(threshold.get("value", ""))
    return params


def run_metrics(run: Run) -> dict[str, float]:
    summary = run.summary or {}
    metrics: dict[str, float] = {}
    for name in ("anomalies", "anomaly_rate", "rows"):
        if isinstance(summary.get(name), (int, float)):
            metrics[
                {"anomalies": "anomaly_count", "anomaly_rate": "anomaly_share"}.get(name, name)
            ] = float(summary[name])
    for name in ("roc_auc", "average_precision"):
        value = (run.metrics or {}).get(name)
        if isinstance(value, (int, float)):
            metrics[name] = float(value)
    for stage, seconds in (run.timings or {}).items():
        if isinstance(seconds, (int, float)):
            metrics[f"duration_{stage}_seconds"] = float(seconds)
    return metrics


def log(sync: MlflowSync) -> MlflowSync:
    """One attempt; raises on any MLflow error after recording it on the row."""
    run = Run.objects.select_related("tenant", "dataset_version", "detector_version").get(
        pk=sync.run_id, tenant_id=sync.tenant_id
    )
    sync.attempts += 1
    try:
        _retarget(sync)
        with _credentials(target_for(sync)):
            client = _client(sync.tracking_uri)
            experiment_id = sync.experiment_id or _experiment_id(client, run)
            if sync.mlflow_run_id:
                mlflow_run_id = sync.mlflow_run_id
            else:
                created = client.create_run(
                    experiment_id, run_name=f"run-{run.pk}", tags={"pynomaly.run_id": str(run.pk)}
                )
                mlflow_run_id = created.info.run_id
                # Saved at once so a retry continues this MLflow run instead of starting another.
                MlflowSync.objects.filter(pk=sync.pk).update(
                    experiment_id=experiment_id, mlflow_run_id=mlflow_run_id
                )
                sync.experiment_id, sync.mlflow_run_id = experiment_id, mlflow_run_id
            from mlflow.entities import Metric, Param

            now = int(timezone.now().timestamp() * 1000)
            client.log_batch(
                mlflow_run_id,
                params=[Param(k, v) for k, v in run_params(run).items()],
                metrics=[Metric(k, v, now, 0) for k, v in run_metrics(run).items()],
            )
            with tempfile.TemporaryDirectory(prefix="pynomaly-mlflow-") as tmp:
                trained = getattr(run, "trained_model", None)
                if trained is not None:
                    name = Path(trained.artifact.name).name
                    with local_path(trained.artifact) as path:
                        target = Path(tmp) / "model" / name
                        target.parent.mkdir()
                        target.write_bytes(Path(path).read_bytes())
                    (target.parent / f"{name}.sha256").write_text(trained.sha256 + "\n")
                    client.log_artifacts(mlflow_run_id, str(target.parent), "model")
                explanation = (run.summary or {}).get("explanation")
                if explanation:
                    client.log_dict(mlflow_run_id, explanation, "explanation/summary.json")
            client.set_terminated(mlflow_run_id, "FINISHED")
    except Exception as exc:
        sync.status = MlflowSync.Status.FAILED
        sync.error = f"{exc.__class__.__name__}: {exc}"[:2000]
        sync.save(update_fields=["attempts", "status", "error", "updated_at"])
        raise
    sync.status = MlflowSync.Status.LOGGED
    sync.error = ""
    sync.save(update_fields=["attempts", "status", "error", "updated_at"])
    return sync


class RegisterRefused(ValueError):
    """The model cannot be registered as asked: not logged yet, or a name MLflow would refuse."""


# What MLflow's registry and its UI take without surprises: a letter or digit first, then letters,
# digits, spaces, dots, dashes and underscores.
REGISTERED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,254}")


def clean_registered_name(name: str) -> str:
    name = (name or "").strip()
    if not REGISTERED_NAME.fullmatch(name):
        raise RegisterRefused(
            "A registered model name is 1 to 255 letters, digits, spaces, dots, dashes or "
            "underscores, starting with a letter or digit."
        )
    return name


def register(sync: MlflowSync, *, name: str, user=None, request=None) -> MlflowSync:
    """Register the logged model directory as a new version of ``name`` in the registry."""
    from mlflow.exceptions import MlflowException

    from apps.audit.services import audit_record

    name = clean_registered_name(name)
    if sync.status != MlflowSync.Status.LOGGED:
        raise RegisterRefused(
            f"The run is not logged to MLflow yet ({sync.get_status_display().lower()}); "
            "register it once it is logged."
        )
    try:
        with _credentials(target_for(sync)):
            client = _client(sync.tracking_uri)
            try:
                client.get_registered_model(name)
            except MlflowException:
                client.create_registered_model(name)
            run = client.get_run(sync.mlflow_run_id)
            version = client.create_model_version(
                name, f"{run.info.artifact_uri}/model", run_id=sync.mlflow_run_id
            )
    except (MlflowException, OSError) as exc:  # requests' errors are OSErrors
        raise MlflowUnavailable(str(exc)[:500]) from exc
    sync.registered_name, sync.registered_version = name, str(version.version)
    with transaction.atomic():
        sync.save(update_fields=["registered_name", "registered_version", "updated_at"])
        audit_record(
            action="model.mlflow_registered",
            actor=user,
            tenant=sync.tenant,
            target=sync.run,
            request=request,
            details={"name": name, "version": sync.registered_version},
        )
    return sync


def sweep(*, older_than: timedelta = timedelta(minutes=5)) -> int:
    """Enqueue again the rows a lost task or exhausted retries left pending/failed."""
    cutoff = timezone.now() - older_than
    stale = MlflowSync.objects.exclude(status=MlflowSync.Status.LOGGED).filter(
        updated_at__lt=cutoff, attempts__lt=settings.MLFLOW_MAX_ATTEMPTS
    )
    from .tasks import log_run

    count = 0
    for pk in stale.values_list("pk", flat=True):
        log_run.delay(pk)
        count += 1
    return count


# ------------------------------------------------------------------ the workspace setting


class SettingRefused(ValueError):
    """A workspace MLflow setting that is not accepted; ``errors`` maps a field to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def setting_save(
    *,
    tenant,
    enabled: bool,
    tracking_uri: str,
    auth: str,
    username: str = "",
    secret: str = "",
    actor=None,
    request=None,
) -> MlflowSetting:
    """Create or change the workspace's MLflow setting (audited ``tenant.mlflow_updated``).

    A blank ``secret`` keeps the stored one while the kind of credential stays the same; a new
    kind needs a new secret; "no credentials" removes it. Raises :class:`SettingRefused`.
    """

    tracking_uri = (tracking_uri or "").strip()
    username = (username or "").strip()
    setting = workspace_setting(tenant.pk) or MlflowSetting(tenant=tenant)
    errors: dict[str, str] = {}
    if auth not in MlflowSetting.Auth.values:
        errors["auth"] = "Choose no credentials, a username and password, or a token."
    if not tracking_uri:
        if enabled:
            errors["tracking_uri"] = "Give the tracking server's URI, or turn the setting off."
    elif len(tracking_uri) > 500:
        errors["tracking_uri"] = "A tracking URI is at most 500 characters."
    else:
        reason = check_workspace_uri(tracking_uri)
        if reason:
            errors["tracking_uri"] = reason
    keeps_secret = setting.secret_set and setting.auth == auth
    if auth == MlflowSetting.Auth.BASIC and not username:
        errors["username"] = "A username and password need the username."
    if auth in (MlflowSetting.Auth.BASIC, MlflowSetting.Auth.TOKEN) and not (
        secret or keeps_secret
    ):
        errors["secret"] = (
            "Give the password." if auth == MlflowSetting.Auth.BASIC else "Give the token."
        )
    if len(username) > 255:
        errors["username"] = "A username is at most 255 characters."
    if len(secret) > 4000:
        errors["secret"] = "The secret is at most 4000 characters."
    if errors:
        raise SettingRefused(errors)
    secret_changed = False
    if auth == MlflowSetting.Auth.NONE:
        secret_changed = setting.secret_set
        setting.secret_encrypted, username = "", ""
    elif secret:
        setting.secret_encrypted, secret_changed = secrets.encrypt(secret), True
    if auth != MlflowSetting.Auth.BASIC:
        username = ""
    created = setting.pk is None
    setting.enabled, setting.tracking_uri, setting.auth = enabled, tracking_uri, auth
    setting.username = username
    try:
        with transaction.atomic():
            setting.save()
            _audit_saved(
                setting,
                created=created,
                secret_changed=secret_changed,
                actor=actor,
                request=request,
            )
    except IntegrityError:  # another admin created it at the same moment
        raise SettingRefused(
            {"tracking_uri": "Another admin saved this setting at the same moment; try again."}
        ) from None
    return setting


def _audit_saved(
    setting: MlflowSetting, *, created: bool, secret_changed: bool, actor, request
) -> None:
    from apps.audit.services import audit_record

    audit_record(
        action="tenant.mlflow_updated",
        actor=actor,
        tenant=setting.tenant,
        target=setting.tenant,
        request=request,
        details={
            "created": created,
            "enabled": setting.enabled,
            "tracking_uri": redact_uri(setting.tracking_uri),
            "auth": setting.auth,
            "credential_changed": secret_changed,  # whether, never what
        },
    )


def mlflow_reencrypt(*, tenant=None) -> int:
    """Encrypt every stored MLflow secret with the first key (after a key rotation); the count changed."""
    from apps.audit.services import audit_record

    qs = MlflowSetting.objects.exclude(secret_encrypted="")
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    count = 0
    with transaction.atomic():  # all or none: one unreadable credential changes nothing
        for setting in qs.select_for_update():
            token = secrets.reencrypt(setting.secret_encrypted)
            if token != setting.secret_encrypted:
                MlflowSetting.objects.filter(pk=setting.pk).update(secret_encrypted=token)
                count += 1
        audit_record(action="mlflow.reencrypted", details={"settings": count})
    return count


def setting_test(tenant) -> str:
    """Ask the workspace's saved server for one experiment: "" when it answers, else why not."""
    setting = workspace_setting(tenant.pk)
    if setting is None or not setting.tracking_uri:
        return "No tracking URI is saved."
    try:
        with _credentials(_setting_target(setting)):
            _client(setting.tracking_uri).search_experiments(max_results=1)
    except MlflowUnavailable as exc:
        return str(exc)
    except Exception as exc:  # whatever MLflow or the network says: shown to the admin
        return f"{exc.__class__.__name__}: {exc}"[:500]
    return ""
