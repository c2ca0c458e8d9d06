"""Celery tasks for runs: load by id, drive the engine, report through the services."""

from __future__ import annotations

import logging
import math
import os
import signal
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings
from django.core.files import File
from django.db import connection

from apps.common import claims, metrics
from apps.common.heartbeat import Heartbeat
from apps.common.storage import local_path

from . import fanout, recovery, services
from .labels import run_train_labels
from .models import Run

logger = logging.getLogger(__name__)

UNEXPECTED = "The run failed because of an internal error; it has been logged for the operators."

# A cancel is seen within CANCEL_POLL_SECONDS; a fit that has not stopped by itself
# CANCEL_GRACE_SECONDS later is stuck in native code and its pool process is ended.
CANCEL_POLL_SECONDS = 1.0
CANCEL_GRACE_SECONDS = 2.0
_in_pool_child = False


@worker_process_init.connect
def _mark_pool_child(**_kwargs) -> None:
    # Only a prefork child may end itself to stop a fit: Celery replaces it. In the solo
    # pool, a thread pool or an eager call, the process is the worker (or the test run).
    global _in_pool_child
    _in_pool_child = True


@shared_task(name="runs.execute", acks_late=True, ignore_result=True, max_retries=0, bind=True)
def execute_run(self, run_id: int) -> None:
    run = services.run_mark_running(run_id=run_id, task_id=self.request.id or "")
    if run is None:  # finished, cancelled, or being run by another delivery
        return
    # While this block runs the claim is live even to this process's own sweeper.
    with claims.holding(services.run_claim_key(run.pk)):
        _Execution(run).attempt()


@shared_task(name="runs.score_part", acks_late=True, ignore_result=True, max_retries=0)
def score_part(
    run_id: int,
    token: str,
    index: int,
    start: int,
    stop: int,
    chunk: int,
    model_name: str,
    sha256: str,
) -> str:
    """One part of a spread run's scoring (apps.runs.fanout)."""
    return fanout.score_part(
        run_id=run_id, token=token, index=index, start=start, stop=stop, chunk=chunk,
        model_name=model_name, sha256=sha256,
    )  # fmt: skip


@shared_task(name="runs.reap_stale", ignore_result=True, time_limit=120, soft_time_limit=100)
def reap_stale_runs() -> dict:
    return recovery.run_reap_stale()


@shared_task(name="runs.sweep", ignore_result=True, time_limit=60, soft_time_limit=50)
def sweep_runs() -> dict:
    return recovery.run_sweep()


class _CancelWatcher(threading.Thread):
    """Ends a run within seconds of its cancel, even while a fit never returns to Python.

    Native fits (LOF, KNN) check for a cancel only between chunks, so the task cannot stop
    itself. The watcher marks the run cancelled (audited and pushed once, by the service),
    gives the task a moment to stop at a chunk boundary, then SIGKILLs its own prefork
    child: Celery replaces the child and, as the worker was lost (acks_late +
    task_reject_on_worker_lost), redelivers the message, which finds a terminal run and
    does nothing. Celery's ``revoke(terminate=True)`` is not used: it signals whichever
    task the process runs when the signal lands, and its revoked ids live in memory only.
    """

    def __init__(self, execution: _Execution):
        super().__init__(name=f"run-{execution.run.pk}-cancel-watcher", daemon=True)
        self.execution, self.finished = execution, threading.Event()
        self.deciding = threading.Lock()

    def run(self) -> None:
        run_id = self.execution.run.pk
        try:
            while not self.finished.wait(CANCEL_POLL_SECONDS):
                try:
                    if services.run_cancel_requested(run_id=run_id):
                        self._cancel(run_id)
                        return
                except Exception:
                    logger.warning("cancel watcher of run %s failed", run_id, exc_info=True)
        finally:
            connection.close()

    def _cancel(self, run_id: int) -> None:
        cancelled = services.run_mark_cancelled(
            run=Run.objects.get(pk=run_id), timings=dict(self.execution.timings)
        )
        if not cancelled:  # it finished (or failed) first
            return
        if self.finished.wait(CANCEL_GRACE_SECONDS) or not _in_pool_child:
            return  # stopped at a chunk boundary, or not ours to kill (it stops at the next)
        with self.deciding:  # the task cannot finish and take another message meanwhile
            if self.finished.is_set():
                return
            logger.warning(
                "run %s was cancelled inside a native fit: ending pool process %s; "
                "Celery will report it lost and start another",
                run_id,
                os.getpid(),
            )
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def stop(self) -> None:
        """The attempt is over: nothing left to end."""
        with self.deciding:
            self.finished.set()


class _Execution:
    """One attempt at one run: loading → preparing → fitting → scoring → writing."""

    def __init__(self, run: Run):
        self.run = run
        self.timings: dict[str, float] = {}
        self._stage: str | None = None
        self._stage_started = 0.0

    # -- stage bookkeeping -------------------------------------------------------------
    def _enter(self, stage: str) -> None:
        now = time.perf_counter()
        if self._stage is not None:
            self.timings[self._stage] = round(
                self.timings.get(self._stage, 0.0) + now - self._stage_started, 3
            )
        self._stage, self._stage_started = stage, now

    def progress(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self._enter(stage)
        services.record_progress(run=self.run, stage=stage, done=done, total=total)

    def should_stop(self) -> bool:
        return services.run_cancel_requested(run_id=self.run.pk)

    # -- the attempt ---------------------------------------------------------------------
    def attempt(self) -> None:
        from pynomaly.errors import Cancelled, EngineError

        run_id = self.run.pk
        beat = Heartbeat(
            f"run-{run_id}",
            lambda: services.run_heartbeat(run_id=run_id),
            settings.RUN_HEARTBEAT_SECONDS,
        )
        beat.start()
        watcher = _CancelWatcher(self)
        watcher.start()
        try:
            self._execute()
        except Cancelled:
            self._enter("done")
            services.run_mark_cancelled(run=self.run, timings=self.timings)
        except EngineError as exc:
            self._enter("done")
            services.run_fail(
                run=self.run, message=str(exc) or exc.__class__.__name__, timings=self.timings
            )
        except SoftTimeLimitExceeded:
            self._enter("done")
            services.run_fail(
                run=self.run,
                message="The run took longer than the time limit.",
                timings=self.timings,
            )
        except Exception:
            logger.exception("run %s failed unexpectedly", self.run.pk)
            self._enter("done")
            services.run_fail(run=self.run, message=UNEXPECTED, timings=self.timings)
        finally:
            watcher.stop()
            beat.stopped.set()
            beat.join(timeout=5)
            metrics.run_stages_timed(self.timings)

    def _execute(self) -> None:
        from pynomaly import data, detect, results, threshold_check
        from pynomaly.evaluate import evaluate
        from pynomaly.train_labels import label_counts

        run = self.run
        if run.analysis == Run.Analysis.GRAPH:
            from . import graphs

            return graphs.execute(self)
        version = run.dataset_version
        pipeline = run.detector_version.pipeline
        label_column = run.label_column or None
        time_column = version.time_column or None

        self.progress(Run.Stage.LOADING, 0, 1)
        with local_path(version.parquet) as path:
            df = data.read_parquet(path)
        run.rows_total = len(df)
        _, y_true, _ = data.split_features(df, label_column=label_column, time_column=time_column)
        train_labels = run_train_labels(run, df)
        train_column = run.train_label_column or None
        excluded = tuple(c for c in (label_column, time_column, train_column) if c)
        config = detect.PipelineConfig.from_dict(
            {
                **pipeline,
                "max_fit_rows": run.max_fit_rows or pipeline.get("max_fit_rows"),
                "exclude_columns": sorted({*(pipeline.get("exclude_columns") or ()), *excluded}),
            }
        )
        self.progress(Run.Stage.LOADING, 1, 1)
        if self.should_stop():
            from pynomaly.errors import Cancelled

            raise Cancelled("stopped on request")

        if run.analysis == Run.Analysis.TIMESERIES:
            from .ts_execution import execute_timeseries

            execute_timeseries(self, df, y_true)
            return
        spread = fanout.Spread(self) if fanout.spread_rows(len(df)) else None
        if run.scoring_model_id is not None:
            fitted, result = self._score_with_model(df)
        else:
            fitted, result = detect.detect(
                df,
                config,
                progress=self.progress,
                should_stop=self.should_stop,
                chunk_size=settings.RUN_CHUNK_ROWS,
                train_labels=train_labels,
                training=self._training(config),
                raw_scorer=spread,
            )
        explanation, explain_summary = self._explain(fitted, df, result)
        segments = _segments(df, result.labels, skip=excluded)
        del df

        self.progress(Run.Stage.WRITING, 0, 1)
        summary = detect.summarize(result)
        summary.update(explanation=explain_summary, segments=segments)
        summary.update(
            feature_names=list(result.feature_names),
            has_contributions=result.contributions is not None,
            time_column=time_column,
            label_column=label_column,
            prepare=fitted.preparer.report,
            detectors=list(fitted.keys),
            fit_rows=int(fitted.n_train),
            threshold_check=threshold_check.check(
                result.scores,
                result.threshold,
                kind=config.threshold.kind,
                labels=train_labels,
            ),
        )
        if spread is not None and spread.summary:
            summary["fanout"] = spread.summary
        if fitted.selection:
            summary["selection"] = fitted.selection
        if train_labels is not None:
            summary["train_labels"] = {"column": train_column, **label_counts(train_labels)}
        metrics = evaluate(y_true, result.scores, result.labels) if y_true is not None else {}
        with tempfile.TemporaryDirectory(prefix="pynomaly-run-") as tmp:
            results_path = Path(tmp) / "results.parquet"
            results.write(result, results_path)
            model = self._save_model(fitted, Path(tmp))
            explanations_path = None
            if explanation is not None:
                from pynomaly import explain

                explanations_path = Path(tmp) / "explanations.parquet"
                explain.write(explanation, explanations_path)
            self._enter("done")
            with (
                open(results_path, "rb") as fh,
                open(explanations_path, "rb") if explanations_path else nullcontext() as xfh,
            ):
                services.run_succeed(
                    run=run,
                    results_file=File(fh),
                    explanations_file=File(xfh) if xfh is not None else None,
                    threshold=float(result.threshold),
                    summary=jsonable(summary),
                    metrics=jsonable(metrics),
                    timings=self.timings,
                    model=model,
                    selection=jsonable(fitted.selection or {}),
                )

    def _training(self, config):
        """Deep detectors: the device (recorded on the run), per-epoch progress, the model
        to fine-tune from (``run.base_model``)."""
        from pynomaly import deep, persist

        if not any(deep.is_deep(key) for key, _ in config.detectors):
            return None
        run = self.run
        run.device = deep.resolve_device()
        Run.objects.filter(pk=run.pk).update(device=run.device)
        base = None
        if run.base_model_id is not None:
            model = run.base_model
            assert model is not None
            with local_path(model.artifact) as path:
                base = persist.load(path, sha256=model.sha256)
        return deep.Training(on_epoch=self.epoch, base=base, device=run.device)

    def epoch(self, detail: dict) -> None:
        if self._stage != Run.Stage.FITTING:
            self._enter(Run.Stage.FITTING)
        services.record_training_progress(run=self.run, detail=detail)

    def _score_with_model(self, df):
        """Score every row with the run's trained model (no fit): what ``pynomaly score`` gives."""
        from pynomaly import persist

        model = self.run.scoring_model
        assert model is not None  # only called for runs with a scoring model
        self.progress(Run.Stage.PREPARING, 0, 1)
        with local_path(model.artifact) as path:
            fitted = persist.load(path, sha256=model.sha256)
        self.progress(Run.Stage.PREPARING, 1, 1)
        result = fitted.score(
            df,
            chunk_size=settings.RUN_CHUNK_ROWS,
            progress=self.progress,
            should_stop=self.should_stop,
        )
        return fitted, result

    def _explain(self, fitted, df, result):
        """Attributions of the flagged rows (at most RUN_EXPLAIN_MAX_ROWS) and their summary.

        A failure to explain does not fail the run: its scores stand, the summary says why.
        """
        from pynomaly import explain

        limit = settings.RUN_EXPLAIN_MAX_ROWS
        if not limit:
            return None, {"error": "Explanations are switched off (RUN_EXPLAIN_MAX_ROWS=0)."}
        self.progress(Run.Stage.EXPLAINING, 0, 1)
        try:
            explanation = explain.explain_result(
                fitted,
                df,
                result.scores,
                result.labels,
                contributions=result.contributions,
                max_rows=limit,
                max_seconds=settings.RUN_EXPLAIN_MAX_SECONDS,
                progress=self.progress,
                should_stop=self.should_stop,
            )
        except explain.ExplainError as exc:
            logger.info("run %s: not explained: %s", self.run.pk, exc)
            return None, {"error": f"The rows could not be explained: {exc}"}
        return explanation, explanation.summary()

    def _save_model(self, fitted, tmp: Path) -> services.ModelArtifact | None:
        from pynomaly import catalogue, persist
        from pynomaly.errors import ArtifactError

        if self.run.scoring_model_id is not None:  # scored with a stored model: nothing new
            return None
        if not all(catalogue.get_detector(key).saveable for key in fitted.keys):
            return None
        path = tmp / "model.skops"
        try:
            sha256 = persist.save(fitted, path)
        except ArtifactError as exc:
            logger.info("run %s: model not saved: %s", self.run.pk, exc)
            return None
        return services.ModelArtifact(
            path=path,
            sha256=sha256,
            feature_names=list(fitted.feature_names),
            input_columns=list(fitted.preparer.input_columns),
            threshold=float(fitted.threshold_),
        )


def _segments(df, labels, *, skip: tuple[str, ...]) -> list[dict]:
    """Segment hints over the dataset's categorical columns (see pynomaly.segments)."""
    import pandas as pd
    import pyarrow as pa

    from pynomaly import segments

    columns = {}
    for name in df.columns:
        column = df[name]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if name in skip or numeric or pd.api.types.is_datetime64_any_dtype(column):
            continue
        try:
            values = pa.array(column, from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            continue
        if segments.is_categorical(values):
            columns[str(name)] = values
    return segments.segment_hints(columns, np.asarray(labels).astype(bool))


def jsonable(value):
    """Plain JSON types (numpy scalars → Python, NaN/inf → None) for JSONField."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
