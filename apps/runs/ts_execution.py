"""The worker's path for a run with ``analysis == timeseries``: the engine's
:mod:`pynomaly.timeseries` instead of the tabular pipeline, same stages, same services."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from django.core.files import File

from apps.common.storage import local_path

from . import services
from .models import Run

logger = logging.getLogger(__name__)


def execute_timeseries(execution, df, y_true) -> None:
    """Fit the run's time-series detector on every series of ``df`` and store points,
    intervals and the summary (``execution``: the task's ``_Execution``; ``y_true``: the
    label column's values, or None)."""
    from pynomaly import timeseries
    from pynomaly.evaluate import evaluate
    from pynomaly.scores import Threshold

    from .tasks import jsonable

    run = execution.run
    pipeline = run.detector_version.pipeline
    detectors = pipeline.get("detectors") or []
    item = detectors[0]
    key, params = (item["key"], item.get("params")) if isinstance(item, dict) else item
    options = timeseries.SeriesOptions.from_dict(run.analysis_options)
    fit_rows = len(df)
    if run.scoring_model_id is not None:
        result, fit_rows = _score_with_model(execution, df)
    else:
        result = timeseries.detect(
            df,
            options,
            key=key,
            params=params or {},
            threshold=Threshold.from_dict(pipeline.get("threshold")),
            seed=int(pipeline.get("seed", 42)),
            progress=execution.progress,
            should_stop=execution.should_stop,
            on_epoch=execution.epoch,
        )
    execution.progress(Run.Stage.WRITING, 0, 1)
    summary = timeseries.summarize(result)
    label = run.label_column or None
    summary.update(label_column=label, time_column=options.time_column, fit_rows=fit_rows)
    metrics = evaluate(y_true, result.scores, result.labels) if y_true is not None else {}
    with tempfile.TemporaryDirectory(prefix="pynomaly-ts-run-") as tmp:
        path = Path(tmp) / "results.parquet"
        timeseries.write(result, path)
        model = None if run.scoring_model_id is not None else _save_model(run, result, tmp)
        execution._enter("done")
        with open(path, "rb") as fh:
            services.run_succeed(
                run=run,
                results_file=File(fh),
                threshold=float(result.threshold),
                summary=jsonable(summary),
                metrics=jsonable(metrics),
                timings=execution.timings,
                model=model,
            )


def _score_with_model(execution, df):
    """Score every point with the run's trained time-series model (no fit); the result and
    the points the model was trained on (the summary's ``fit_rows``, as for a table model)."""
    from pynomaly import ts_model

    model = execution.run.scoring_model
    execution.progress(Run.Stage.PREPARING, 0, 1)
    with local_path(model.artifact) as path:
        fitted = ts_model.load(path, sha256=model.sha256)
    result = fitted.score(df, progress=execution.progress, should_stop=execution.should_stop)
    return result, sum(state.points for state in fitted.series.values())


def _save_model(run: Run, result, tmp: str) -> services.ModelArtifact | None:
    """The run's trained model (its detectors per series and their scale), or None when it
    cannot be stored (logged: the run's results stand)."""
    from pynomaly import ts_model
    from pynomaly.errors import ArtifactError

    path = Path(tmp) / f"model{ts_model.SUFFIX}"
    try:
        fitted = ts_model.TimeSeriesModel.from_result(result)
        sha256 = ts_model.save(fitted, path)
    except ArtifactError as exc:
        logger.info("run %s: time-series model not saved: %s", run.pk, exc)
        return None
    return services.ModelArtifact(
        path=path,
        sha256=sha256,
        feature_names=list(fitted.options.value_columns),
        input_columns=fitted.input_columns,
        threshold=float(fitted.threshold),
        suffix=ts_model.SUFFIX,
    )
