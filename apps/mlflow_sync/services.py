"""Log a finished run to MLflow: parameters, metrics, the model file as saved, the explanation.

MLflow is optional (``MLFLOW_TRACKING_URI``); nothing here may fail a run: the sync row
records the error and the task is retried with backoff, then by the sweeper.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.common.storage import local_path
from apps.runs.models import Run

from .models import MlflowSync

logger = logging.getLogger(__name__)

EXPERIMENT_PREFIX = "pynomaly"


def tracking_uri() -> str:
    return (getattr(settings, "MLFLOW_TRACKING_URI", "") or "").strip()


def sync_for_finished_run(*, run_id: int) -> MlflowSync | None:
    """Create the pending row for a succeeded run when MLflow is configured (idempotent)."""
    uri = tracking_uri()
    if not uri:
        return None
    run = Run.objects.filter(pk=run_id, status=Run.Status.SUCCEEDED).first()
    if run is None:
        return None
    sync, _ = MlflowSync.objects.get_or_create(
        run=run, defaults={"tenant_id": run.tenant_id, "tracking_uri": uri}
    )
    return sync


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


class MlflowUnavailable(Exception):
    """MLflow refused or could not be reached."""


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
    client = _client(sync.tracking_uri)
    try:
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
