"""One execution of a monitor: new rows → drift → a normal run (score, or refit) → figures.

``execution_run`` is the task's body: it claims the pending row, finds the new rows (a
source pull, or the next dataset version not executed yet), compares them with the model's
training rows (:mod:`pynomaly.drift`), decides with the retrain policy whether to refit,
and starts a run through the run services: scoring with ``Run.scoring_model``, or fitting.
The run's own task does the work, crash-safe as every run is. When the run ends
(``apps.runs.signals.run_finished``, or the sweeper for a lost signal) ``execution_finish``
copies its figures onto the execution and sends ``execution_finished`` once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.common.storage import local_path
from apps.datasets.models import DatasetVersion
from apps.runs.models import Run
from apps.runs.services import RunStateError, run_start, run_threshold_set

from .models import Monitor, MonitorExecution
from .signals import execution_finished

logger = logging.getLogger(__name__)

Status = MonitorExecution.Status
LOST = "The worker stopped during this execution; the next one will pick up the same rows."


def _send_after_commit(execution: MonitorExecution) -> None:
    execution_id = execution.pk

    def send() -> None:
        row = MonitorExecution.objects.select_related("monitor", "run", "tenant").get(
            pk=execution_id
        )
        execution_finished.send_robust(sender=MonitorExecution, execution=row)

    transaction.on_commit(send)


def _end(execution: MonitorExecution, status: str, *, error: str = "") -> None:
    """Terminal state; succeeded and failed ones are audited and announced after commit.

    A skipped execution (nothing new) is not audited: an interval monitor on a quiet table
    would otherwise write an event every few seconds.
    """
    execution.status, execution.error = status, error
    execution.finished_at = timezone.now()
    execution.save()
    if status == Status.SKIPPED:
        return
    audit_record(
        action=f"monitor.execution_{status}",
        tenant=execution.tenant,
        target=execution.monitor,
        details={
            "execution": execution.number,
            "run": execution.run_id,
            "rows": execution.rows,
            "anomalies": execution.anomalies,
            "drift": execution.drift_detected,
            **({"error": error[:500]} if error else {}),
        },
    )
    _send_after_commit(execution)


# ---------------------------------------------------------------- starting
def _claim(execution_id: int) -> MonitorExecution | None:
    with transaction.atomic():
        execution = MonitorExecution.objects.select_for_update().filter(pk=execution_id).first()
        if execution is None or execution.status != Status.PENDING:
            return None  # done, or being executed (a duplicate delivery)
        execution.status, execution.started_at = Status.RUNNING, timezone.now()
        execution.attempts += 1
        execution.save(update_fields=["status", "started_at", "attempts"])
    return execution


def _next_version(monitor: Monitor) -> DatasetVersion | None:
    """The rows this execution reads: a source's next unread pull, or the dataset's newest version.

    A source's versions are increments (each pull holds only rows past the watermark), so
    every one is read, oldest first; a dataset's versions are whole tables, so only the
    newest counts. Either way a version is never read twice.
    """
    if monitor.source is not None:
        from apps.sources.services import source_pull  # the sources app owns the pull

        source_pull(source=monitor.source)
        monitor.source.refresh_from_db()
    dataset_id = monitor.watched_dataset_id
    if dataset_id is None:
        return None
    read = monitor.executions.exclude(dataset_version=None)
    last = (
        read.order_by("-dataset_version__number")
        .values_list("dataset_version__number", flat=True)
        .first()
    )
    versions = DatasetVersion.objects.filter(dataset_id=dataset_id, number__gt=last or 0)
    if monitor.source_id is not None:
        return versions.order_by("number").first()
    return versions.order_by("-number").first()


def _drift(monitor: Monitor, version: DatasetVersion) -> dict:
    """The new rows against the model's training rows, per input column (empty: no model)."""
    from pynomaly import drift

    model = monitor.model
    if model is None:
        return {}
    reference = model.run.dataset_version
    # A source's watermark (an increasing id or timestamp) moves by design: never "drift".
    ordering = {monitor.source.watermark_column} if monitor.source is not None else set()
    ordering.add(version.time_column)
    columns = [c for c in model.input_columns if c not in ordering]
    try:
        with local_path(reference.parquet) as ref_path, local_path(version.parquet) as cur_path:
            report = drift.compare_parquet(
                ref_path,
                cur_path,
                columns=columns,
                max_rows=settings.MONITOR_DRIFT_MAX_ROWS,
            )
    except Exception as exc:  # noqa: BLE001 - drift is information; it must not stop the scoring
        logger.warning("monitor %s: drift not computed", monitor.pk, exc_info=True)
        return {"detected": False, "error": f"Drift could not be computed ({type(exc).__name__})."}
    return {**report.to_dict(), "reference_version": reference.pk}


def _refit_reason(monitor: Monitor, drift: dict) -> str:
    """Why this execution refits ("" = score with the monitor's model)."""
    if monitor.model is None:
        return "no model yet"
    if monitor.retrain == Monitor.Retrain.ON_DRIFT and drift.get("detected"):
        return "drift detected"
    if monitor.retrain == Monitor.Retrain.EVERY_N and monitor.retrain_every:
        done = monitor.executions.filter(status=Status.SUCCEEDED)
        last_fit = done.filter(retrained=True).order_by("-number").first()
        since = done.filter(number__gte=last_fit.number) if last_fit else done
        if since.count() >= monitor.retrain_every:
            return f"every {monitor.retrain_every} executions"
    return ""


def execution_run(*, execution_id: int) -> MonitorExecution | None:
    """The task's work up to the run's start; None when the execution was not pending."""
    execution = _claim(execution_id)
    if execution is None:
        return None
    monitor = Monitor.objects.select_related(
        "tenant", "source", "detector_version", "model__run__dataset_version"
    ).get(pk=execution.monitor_id)
    try:
        version = _next_version(monitor)
    except Exception as exc:  # noqa: BLE001 - a source's failure ends the execution visibly
        message = _read_failure(monitor, exc)
        with transaction.atomic():
            _end(execution, Status.FAILED, error=message)
        return execution
    if version is None:
        with transaction.atomic():
            _end(execution, Status.SKIPPED)
        return execution
    drift = _drift(monitor, version)
    reason = _refit_reason(monitor, drift)
    with transaction.atomic():
        execution.dataset_version, execution.drift = version, drift
        execution.retrained = bool(reason)
        execution.rows = version.rows
        try:
            run = run_start(
                tenant=monitor.tenant,
                user=None,
                dataset_version=version,
                detector_version=monitor.detector_version,
                scoring_model=None if reason else monitor.model,
            )
        except RunStateError as exc:
            _end(execution, Status.FAILED, error=str(exc))
            return execution
        execution.run = run
        execution.save()
        audit_record(
            action="monitor.execution_started",
            tenant=monitor.tenant,
            target=monitor,
            details={
                "execution": execution.number,
                "trigger": execution.trigger,
                "run": run.pk,
                "version": version.pk,
                "refit": reason,
            },
        )
    return execution


def _read_failure(monitor: Monitor, exc: Exception) -> str:
    """The user's message for new rows that could not be read (a source's own words)."""
    if monitor.source_id is not None:
        from apps.sources.services import SourceError

        if isinstance(exc, SourceError):
            return f"The source could not be read: {exc}"
    logger.exception("monitor %s: reading new rows failed", monitor.pk)
    return f"Reading the new rows failed ({type(exc).__name__})."


# ---------------------------------------------------------------- finishing
def _max_severity(run: Run) -> float | None:
    top = (run.summary or {}).get("top") or []
    values = [t["severity"] for t in top if t.get("severity") is not None]
    return max(values) if values else None


def execution_finish(*, run_id: int) -> MonitorExecution | None:
    """Copy a finished run's figures onto its execution; None when there is nothing to do."""
    execution = MonitorExecution.objects.filter(run_id=run_id).select_related("monitor").first()
    if execution is None or execution.is_terminal:
        return None
    run = Run.objects.get(pk=run_id)
    if not run.is_terminal:
        return None
    monitor = execution.monitor
    if run.status == Run.Status.SUCCEEDED and monitor.threshold is not None:
        if run.threshold != monitor.threshold:
            run = run_threshold_set(run=run, threshold=monitor.threshold, actor=None)
    with transaction.atomic():
        execution = MonitorExecution.objects.select_for_update().get(pk=execution.pk)
        if execution.is_terminal:
            return None
        if run.status != Run.Status.SUCCEEDED:
            verb = "was cancelled" if run.status == Run.Status.CANCELLED else "failed"
            _end(execution, Status.FAILED, error=f"The run {verb}: {run.error}".strip(": "))
            return execution
        summary = run.summary or {}
        execution.rows = int(summary.get("rows") or run.rows_total or 0)
        execution.anomalies = int(summary.get("anomalies") or 0)
        execution.flagged_share = execution.anomalies / execution.rows if execution.rows else 0.0
        execution.max_severity = _max_severity(run)
        if execution.retrained:
            _adopt_model(monitor, run)
        _end(execution, Status.SUCCEEDED)
    return execution


def _adopt_model(monitor: Monitor, run: Run) -> None:
    from apps.detectors.models import TrainedModel

    model = TrainedModel.objects.filter(run=run).first()
    if model is None:
        logger.info(
            "monitor %s: run %s saved no model; the next execution refits", monitor.pk, run.pk
        )
        return
    locked = Monitor.objects.select_for_update().get(pk=monitor.pk)
    locked.model = model
    locked.save(update_fields=["model", "updated_at"])
    audit_record(
        action="monitor.model_replaced",
        tenant=locked.tenant,
        target=locked,
        details={"model": model.pk, "run": run.pk},
    )


# ---------------------------------------------------------------- the sweeper
def execution_sweep() -> dict:
    """Finish executions whose run ended without a signal; fail those whose worker vanished."""
    finished = 0
    runs = MonitorExecution.objects.filter(
        status=Status.RUNNING, run__status__in=Run.TERMINAL
    ).values_list("run_id", flat=True)
    for run_id in list(runs[:100]):
        if execution_finish(run_id=run_id) is not None:
            finished += 1
    stale_before = timezone.now() - timedelta(seconds=settings.MONITOR_STALE_SECONDS)
    lost = 0
    for execution in MonitorExecution.objects.filter(
        status=Status.RUNNING, run=None, started_at__lt=stale_before
    )[:100]:
        with transaction.atomic():
            locked = MonitorExecution.objects.select_for_update().get(pk=execution.pk)
            if locked.status == Status.RUNNING and locked.run_id is None:
                _end(locked, Status.FAILED, error=LOST)
                lost += 1
    resent = 0
    for execution in MonitorExecution.objects.filter(
        status=Status.PENDING, created_at__lt=stale_before
    )[:100]:
        from .tasks import execute_monitor

        execute_monitor.delay(execution.pk)
        resent += 1
    return {"finished": finished, "lost": lost, "resent": resent}
