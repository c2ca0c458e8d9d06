"""Run workflows: the only code that writes Run rows (and pushes their state to sockets)."""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from apps.audit.services import audit_record
from apps.common import claims
from apps.datasets.models import DatasetVersion
from apps.detectors.models import DetectorConfigVersion, TrainedModel
from pynomaly.evaluate import label_metrics

from . import selectors
from .models import Run
from .signals import run_finished

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 0.5
# Where each stage sits on the overall progress bar (start %, end %).
STAGE_SPAN = {
    Run.Stage.QUEUED: (0, 0),
    Run.Stage.LOADING: (0, 5),
    Run.Stage.PREPARING: (5, 10),
    Run.Stage.FITTING: (10, 45),
    Run.Stage.SCORING: (45, 90),
    Run.Stage.EXPLAINING: (90, 97),
    Run.Stage.WRITING: (97, 100),
    Run.Stage.DONE: (100, 100),
}


class RunStateError(Exception):
    """The run is not in a state that allows this (message meant for the user)."""


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


# ---------------------------------------------------------------- rendering and pushing
def render_run_progress(run: Run, *, oob: bool = True) -> str:
    """The ``run-progress`` partial of the run page, as sockets and the page show it."""
    model = (
        TrainedModel.objects.filter(run=run).first() if run.status == Run.Status.SUCCEEDED else None
    )
    context = {
        "run": run,
        "tenant": run.tenant,
        "results_url": run.url("results"),
        "oob": oob,
        "trained_model": model,
    }
    return render_to_string("runs/run_detail.html#run-progress", context)


def run_push(run: Run) -> None:
    """Nudge open run pages with the current state; a page that misses it loses nothing."""
    try:
        html = render_run_progress(run)
        async_to_sync(get_channel_layer().group_send)(
            run_group(run.pk), {"type": "run.progress", "html": html}
        )
    except Exception:  # a socket problem must never fail the run itself
        logger.warning("could not push the state of run %s", run.pk, exc_info=True)


def _push_after_commit(run: Run) -> None:
    transaction.on_commit(lambda: run_push(run))


def _enqueue_after_commit(run: Run) -> None:
    from .tasks import execute_run

    task_id = run.task_id
    transaction.on_commit(lambda: execute_run.apply_async(args=[run.pk], task_id=task_id))


# ---------------------------------------------------------------- starting and stopping
@transaction.atomic
def run_start(
    *,
    tenant,
    user,
    dataset_version: DatasetVersion,
    detector_version: DetectorConfigVersion,
    label_column: str = "",
    max_fit_rows: int | None = None,
    parent: Run | None = None,
    use_verdicts: bool = False,
    train_label_column: str = "",
    request: HttpRequest | None = None,
    scoring_model: TrainedModel | None = None,
    base_model: TrainedModel | None = None,
    analysis: str = Run.Analysis.TABLE,
    analysis_options: dict | None = None,
) -> Run:
    """Write a queued run and enqueue its task once the transaction commits.

    ``analysis``/``analysis_options``: time series reads the rows as series (options
    checked by apps.runs.rules first: {"time_column", "value_columns", "id_column", "window"}).

    With ``scoring_model`` the run scores the rows with that trained model instead of fitting.
    ``parent``: the run this one was started from (a retrain with feedback); ``use_verdicts``:
    train with the analysts' verdicts on the dataset version (apps.feedback).
    """
    if dataset_version.tenant_id != tenant.pk or detector_version.tenant_id != tenant.pk:
        raise RunStateError("The dataset and the detector must belong to this workspace.")
    if scoring_model is not None:
        analysis, analysis_options = scoring_inputs(
            scoring_model, tenant, dataset_version, analysis, analysis_options
        )
    for column in (label_column, train_label_column):
        if column and column not in dataset_version.column_names:
            raise RunStateError(f"The dataset has no column {column!r}.")
    if parent is not None and parent.tenant_id != tenant.pk:
        raise RunStateError("The parent run must belong to this workspace.")
    if base_model is not None:
        _check_base_model(base_model, tenant, dataset_version, detector_version)
    # a graph version's rows are its nodes, whatever the caller said (time series is chosen)
    graph = _analysis(dataset_version)
    if graph:
        analysis, analysis_options = graph["analysis"], graph["analysis_options"]
    run = Run.objects.create(
        tenant=tenant,
        dataset_version=dataset_version,
        detector_version=detector_version,
        label_column=label_column,
        max_fit_rows=max_fit_rows,
        scoring_model=scoring_model,
        parent=parent,
        use_verdicts=use_verdicts,
        train_label_column=train_label_column,
        base_model=base_model,
        analysis=analysis,
        analysis_options=dict(analysis_options or {}),
        created_by=user,
        task_id=str(uuid.uuid4()),
    )
    audit_record(
        action="run.started",
        actor=user,
        tenant=tenant,
        target=run,
        request=request,
        details={
            "dataset_version": dataset_version.pk,
            "detector_version": detector_version.pk,
            "label_column": label_column,
            "max_fit_rows": max_fit_rows,
            **({"scoring_model": scoring_model.pk} if scoring_model is not None else {}),
            **({"parent": parent.pk} if parent is not None else {}),
            **({"base_model": base_model.pk} if base_model is not None else {}),
            **({"use_verdicts": True} if use_verdicts else {}),
            "train_label_column": train_label_column,
            **(
                {"analysis": analysis, "analysis_options": dict(analysis_options or {})}
                if analysis != Run.Analysis.TABLE
                else {}
            ),
        },
    )
    _enqueue_after_commit(run)
    return run


def scoring_inputs(
    model: TrainedModel,
    tenant,
    dataset_version: DatasetVersion,
    analysis: str,
    analysis_options: dict | None,
) -> tuple[str, dict | None]:
    """How a run scoring with ``model`` reads its rows: a time-series model as the series it
    was trained on (its run's options, no window: the model's detectors have theirs).

    Raises
    ------
    RunStateError
        Another workspace's model, or a dataset version without a column the model reads.
    """
    if model.tenant_id != tenant.pk:
        raise RunStateError("The model must belong to this workspace.")
    missing = [c for c in model.input_columns if c not in dataset_version.column_names]
    if missing:
        raise RunStateError(
            f"Model #{model.pk} reads column {missing[0]!r}, which {dataset_version} does not "
            f"have (the model reads: {', '.join(model.input_columns[:10])}): score data of "
            "the same schema."
        )
    trained_on = model.run
    if trained_on.analysis == Run.Analysis.TIMESERIES:
        options = {**(trained_on.analysis_options or {}), "window": None}
        return Run.Analysis.TIMESERIES, options
    if analysis == Run.Analysis.TIMESERIES:
        raise RunStateError(
            f"Model #{model.pk} scores rows of a table, not time series: "
            "score without the time-series options."
        )
    return analysis, analysis_options


def _analysis(dataset_version: DatasetVersion) -> dict:
    """What the run's rows are: a graph version's are its nodes."""
    if dataset_version.is_graph:
        options = {"id_column": dataset_version.graph.get("id_column", "")}
        return {"analysis": Run.Analysis.GRAPH, "analysis_options": options}
    return {}


def run_rerun(*, run: Run, user, request: HttpRequest | None = None) -> Run:
    """A new run with the same inputs (dataset version, detector version, label, sample)."""
    return run_start(
        tenant=run.tenant,
        user=user,
        dataset_version=run.dataset_version,
        detector_version=run.detector_version,
        label_column=run.label_column,
        max_fit_rows=run.max_fit_rows,
        train_label_column=run.train_label_column,
        request=request,
        scoring_model=run.scoring_model,
        analysis=run.analysis,
        analysis_options=run.analysis_options,
    )


@transaction.atomic
def run_cancel(*, run: Run, user, request: HttpRequest | None = None) -> Run:
    """Cancel a queued run at once; a running one is ended by its task's cancel watcher within seconds."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.is_terminal:
        raise RunStateError(f"The run has already {run.get_status_display().lower()}.")
    if run.status == Run.Status.QUEUED:
        _finish(run, Run.Status.CANCELLED, error="Cancelled before it started.")
        audit_record(
            action="run.cancelled",
            actor=user,
            tenant=run.tenant,
            target=run,
            request=request,
            details={"was": "queued"},
        )
    elif not run.cancel_requested:
        run.cancel_requested = True
        run.save(update_fields=["cancel_requested"])
        audit_record(
            action="run.cancel_requested",
            actor=user,
            tenant=run.tenant,
            target=run,
            request=request,
            details={"stage": run.stage},
        )
    _push_after_commit(run)
    return run


def _finish(run: Run, status: str, *, error: str = "") -> None:
    now = timezone.now()
    run.status = status
    run.error = error
    run.finished_at = now
    run.eta_seconds = None
    if status == Run.Status.SUCCEEDED:
        run.stage, run.percent = Run.Stage.DONE, 100.0
    run.save()
    run_id = run.pk
    transaction.on_commit(lambda: run_finished.send_robust(sender=Run, run_id=run_id))


# ---------------------------------------------------------------- the task's transitions
def run_claim_key(run_id: int) -> str:
    return f"run:{run_id}"


def _holder_alive(run: Run, now) -> bool:
    """Whether the process that claimed this running run still works on it."""
    return claims.row_holder_alive(
        run, key=run_claim_key(run.pk), now=now, silent_for=3 * settings.RUN_HEARTBEAT_SECONDS
    )


@transaction.atomic
def run_mark_running(*, run_id: int, task_id: str = "") -> Run | None:
    """Claim the run for this task: None when there is nothing (more) to do.

    Celery may deliver a task twice (acks_late), so a terminal run is left alone, a run whose
    holder still works on it is left to it, and attempts are counted here. The claim records
    this process as the holder, so the next delivery can tell a dead holder at once.
    """
    run = Run.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.is_terminal:
        return None
    now = timezone.now()
    if run.status == Run.Status.RUNNING:
        if _holder_alive(run, now):
            logger.info("run %s is held by a live worker; duplicate delivery ignored", run_id)
            return None
        logger.warning(
            "run %s: its holder %s pid %s is gone; resuming at once",
            run_id,
            run.holder_host or "?",
            run.holder_pid,
        )
    if run.cancel_requested:
        _finish(run, Run.Status.CANCELLED, error="Cancelled on request.")
        audit_record(
            action="run.cancelled", tenant=run.tenant, target=run, details={"stage": run.stage}
        )
        _push_after_commit(run)
        return None
    if run.attempts >= settings.RUN_MAX_ATTEMPTS:
        _fail_locked(run, f"Gave up after {run.attempts} attempts: the worker stopped each time.")
        return None
    holder = claims.current()
    run.attempts += 1
    run.status = Run.Status.RUNNING
    run.stage = Run.Stage.LOADING
    run.percent = 0.0
    run.rows_done = 0
    run.rows_per_second = None
    run.eta_seconds = None
    run.error = ""
    run.started_at = run.started_at or now
    run.heartbeat_at = now
    run.holder_host, run.holder_pid, run.holder_started = holder.host, holder.pid, holder.started
    if task_id:
        run.task_id = task_id
    run.save()
    _push_after_commit(run)
    return run


@dataclass
class _Pace:
    stage: str
    stage_started: float
    last_write: float


_paces: dict[int, _Pace] = {}


def _check_base_model(
    model: TrainedModel,
    tenant,
    dataset_version: DatasetVersion,
    detector_version: DetectorConfigVersion,
) -> None:
    """Fine-tuning starts from a model of the same deep detector over the same columns."""
    from pynomaly import deep

    if model.tenant_id != tenant.pk:
        raise RunStateError("The model must belong to this workspace.")
    keys = list(detector_version.detector_keys)
    base_keys = list(model.detector_version.detector_keys)
    if keys != base_keys:
        raise RunStateError(
            f"Model #{model.pk} holds {' + '.join(base_keys)}; this detector trains "
            f"{' + '.join(keys)}: fine-tune from a model of the same detector."
        )
    if not all(k in deep.FINE_TUNABLE for k in keys):
        raise RunStateError(
            f"{' + '.join(keys)} cannot be fine-tuned; AutoEncoder and VAE can "
            "(their PyOD training starts from given weights)."
        )
    missing = [c for c in model.input_columns if c not in dataset_version.column_names]
    if missing:
        raise RunStateError(
            f"Model #{model.pk} was trained on other columns (missing here: "
            f"{', '.join(missing[:5])}): fine-tune on data of the same schema."
        )


_epoch_writes: dict[int, float] = {}


def record_training_progress(*, run: Run, detail: dict) -> None:
    """A deep detector finished an epoch: {"epoch", "epochs", "loss", "eta_seconds"} beside
    the bar, the bar moved through the fitting stage by epochs, pushed to open pages."""
    epochs = int(detail.get("epochs") or 0)
    epoch = min(int(detail.get("epoch") or 0), epochs)
    now = time.monotonic()
    if epoch < epochs and now - _epoch_writes.get(run.pk, 0.0) < PROGRESS_INTERVAL_SECONDS:
        return  # fast epochs: at most one write per interval, and always the last one
    _epoch_writes[run.pk] = now
    start, end = STAGE_SPAN.get(Run.Stage.FITTING, (0, 100))
    run.progress_detail = {
        k: detail.get(k) for k in ("epoch", "epochs", "loss", "eta_seconds", "elapsed_seconds")
    }
    if epochs:
        run.percent = round(start + (end - start) * epoch / epochs, 1)
    run.eta_seconds = detail.get("eta_seconds") or None
    run.heartbeat_at = timezone.now()
    Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
        progress_detail=run.progress_detail,
        percent=run.percent,
        eta_seconds=run.eta_seconds,
        heartbeat_at=run.heartbeat_at,
    )
    run_push(run)


def record_progress(*, run: Run, stage: str, done: int, total: int, force: bool = False) -> bool:
    """Update percent, rows/s, ETA and heartbeat; write and push at most every ~0.5 s.

    Always writes on a stage change or when ``force`` is set. Returns whether it wrote.
    """
    now = time.monotonic()
    pace = _paces.get(run.pk)
    stage_changed = pace is None or pace.stage != stage
    if stage_changed:
        pace = _paces[run.pk] = _Pace(stage=stage, stage_started=now, last_write=0.0)
    if not (force or stage_changed or now - pace.last_write >= PROGRESS_INTERVAL_SECONDS):
        return False
    pace.last_write = now
    total = max(int(total), 0)
    done = min(max(int(done), 0), total) if total else 0
    start, end = STAGE_SPAN.get(stage, (0, 100))
    fraction = done / total if total else 0.0
    elapsed = now - pace.stage_started
    rate = done / elapsed if elapsed > 0 and done else None
    run.stage = stage
    run.percent = round(start + (end - start) * fraction, 1)
    if stage == Run.Stage.SCORING:
        # Scoring counts chunks; rows are what a person understands.
        run.rows_done = (
            min(run.rows_total, round(run.rows_total * fraction)) if run.rows_total else done
        )
        rows_rate = run.rows_done / elapsed if elapsed > 0 and run.rows_done else None
        run.rows_per_second = round(rows_rate, 1) if rows_rate else None
    run.eta_seconds = round((total - done) / rate, 1) if rate and total > done else None
    run.heartbeat_at = timezone.now()
    Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
        stage=run.stage,
        percent=run.percent,
        rows_done=run.rows_done,
        rows_total=run.rows_total,
        rows_per_second=run.rows_per_second,
        eta_seconds=run.eta_seconds,
        heartbeat_at=run.heartbeat_at,
    )
    run_push(run)
    return True


def run_heartbeat(*, run_id: int) -> None:
    """The worker is alive: keeps the reaper away during long fits without progress events."""
    Run.objects.filter(pk=run_id, status=Run.Status.RUNNING).update(heartbeat_at=timezone.now())


def run_cancel_requested(*, run_id: int) -> bool:
    return bool(Run.objects.filter(pk=run_id).values_list("cancel_requested", flat=True).first())


def _forget_pace(run_id: int) -> None:
    _paces.pop(run_id, None)


@dataclass(frozen=True)
class ModelArtifact:
    """A fitted pipeline saved by ``pynomaly.persist.save`` to a local file."""

    path: Path
    sha256: str
    feature_names: list[str]
    input_columns: list[str]
    threshold: float
    suffix: str = ".skops"  # graph models: ".pt" (pynomaly.torch_state, never pickled)


def _trained_model_save(run: Run, model: ModelArtifact) -> TrainedModel:
    trained = TrainedModel(
        tenant=run.tenant,
        run=run,
        detector_version=run.detector_version,
        sha256=model.sha256,
        feature_names=model.feature_names,
        input_columns=model.input_columns,
        threshold=model.threshold,
    )
    with open(model.path, "rb") as fh:
        trained.artifact.save(f"run-{run.pk}{model.suffix}", File(fh), save=False)
    TrainedModel.objects.filter(run=run).delete()
    trained.save()
    return trained


@transaction.atomic
def run_succeed(
    *,
    run: Run,
    results_file: File,
    explanations_file: File | None = None,
    threshold: float,
    summary: dict[str, Any],
    metrics: dict[str, Any],
    timings: dict[str, float],
    model: ModelArtifact | None = None,
    selection: dict[str, Any] | None = None,
) -> bool:
    """Store the results and finish the run; False when it was no longer ours to finish."""
    _forget_pace(run.pk)
    locked = Run.objects.select_for_update().get(pk=run.pk)
    if locked.status != Run.Status.RUNNING:
        logger.warning("run %s became %s while it ran; results dropped", run.pk, locked.status)
        return False
    run.results.save(f"run-{run.pk}.parquet", results_file, save=False)
    if explanations_file is not None:
        run.explanations.save(f"run-{run.pk}-explanations.parquet", explanations_file, save=False)
    run.threshold, run.summary, run.metrics, run.timings = threshold, summary, metrics, timings
    run.selection = selection or {}
    run.rows_done = run.rows_total
    run.rows_per_second = (
        locked.rows_per_second if run.rows_per_second is None else run.rows_per_second
    )
    run.cancel_requested = locked.cancel_requested
    _finish(run, Run.Status.SUCCEEDED)
    if model is not None:
        _trained_model_save(run, model)
    audit_record(
        action="run.finished",
        tenant=run.tenant,
        target=run,
        details={
            "anomalies": summary.get("anomalies"),
            "rows": summary.get("rows"),
            "seconds": round(sum(timings.values()), 2),
        },
    )
    _push_after_commit(run)
    return True


def _fail_locked(run: Run, message: str) -> None:
    _finish(run, Run.Status.FAILED, error=message)
    audit_record(
        action="run.failed", tenant=run.tenant, target=run, details={"error": message[:500]}
    )
    _push_after_commit(run)


@transaction.atomic
def run_fail(*, run: Run, message: str, timings: dict[str, float] | None = None) -> bool:
    _forget_pace(run.pk)
    locked = Run.objects.select_for_update().get(pk=run.pk)
    if locked.is_terminal:
        return False
    locked.timings = timings if timings is not None else locked.timings
    _fail_locked(locked, message)
    _copy_state(locked, run)
    return True


@transaction.atomic
def run_mark_cancelled(*, run: Run, timings: dict[str, float] | None = None) -> bool:
    """The task stopped on request at a chunk boundary."""
    _forget_pace(run.pk)
    locked = Run.objects.select_for_update().get(pk=run.pk)
    if locked.is_terminal:
        return False
    locked.timings = timings if timings is not None else locked.timings
    _finish(locked, Run.Status.CANCELLED, error="Cancelled on request.")
    audit_record(
        action="run.cancelled", tenant=locked.tenant, target=locked, details={"stage": locked.stage}
    )
    _push_after_commit(locked)
    _copy_state(locked, run)
    return True


def _copy_state(source: Run, target: Run) -> None:
    for name in ("status", "stage", "error", "finished_at", "timings", "percent", "eta_seconds"):
        setattr(target, name, getattr(source, name))


# ---------------------------------------------------------------- the saved threshold
def run_threshold_set(
    *, run: Run, threshold: float, actor, request: HttpRequest | None = None
) -> Run:
    """Save a new threshold (no refit): summary counts and label metrics follow; audited."""
    if not math.isfinite(threshold):
        raise ValueError("The threshold must be a finite number.")
    after = selectors.counts(run, threshold)
    truth = selectors.truth(run) if run.metrics else None
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        before = {
            "threshold": locked.threshold,
            "anomalies": (locked.summary or {}).get("anomalies"),
        }
        locked.threshold = float(threshold)
        locked.summary = {**(locked.summary or {}), **after, "threshold": float(threshold)}
        if truth is not None:
            flagged = selectors.flags(locked, threshold)
            locked.metrics = {**locked.metrics, **label_metrics(truth, flagged)}
        locked.save(update_fields=["threshold", "summary", "metrics"])
        audit_record(
            action="run.threshold_changed",
            actor=actor,
            tenant=locked.tenant,
            target=locked,
            request=request,
            details={
                "before": before,
                "after": {"threshold": float(threshold), "anomalies": after["anomalies"]},
            },
        )
    return locked
