"""Fit a detection pipeline on a table and score rows with it.

A pipeline is: prepare the features (:mod:`pynomaly.prepare`), fit one detector or
several (an ensemble), combine their scores, and cut at a threshold. Scores are
always "higher = more anomalous".

Ensembles and thresholds: see :mod:`pynomaly.scores`. The configuration and the fitted
pipeline that scores rows live in :mod:`pynomaly.pipeline`; this module fits them.

Chunked scoring and ECOD/COPOD: these two detectors compute a new row's score from
the empirical distribution of the training rows *plus the rows being scored*, so a
row's score depends slightly on which chunk it arrives in, and memory grows with
``n_train + chunk_size``. We keep chunks bounded (``chunk_size``) and score training
rows with the same chunking at fit and at score time, so the threshold and the
scores of the training rows agree.

Chunk size: ``chunk_size=None`` (the default) means 100,000 rows, except for pipelines
with ECOD or COPOD, which take larger chunks as long as training rows plus chunk rows
stay within 3.5 million cells (rows x features): every chunk re-ranks the training
rows, so 100k-row chunks after a 100k-row sample did twice the ranking work of one
pass. Measured on 1M x 10 floats after a 100k sample: ECOD scoring CPU 6.8 s with
100k-row chunks, 5.2 s with 250k (what the bound gives), 5.3 s in one pass; peak
memory of the scoring +85 MB, +165 MB, +570 MB. A bigger chunk also brings scores
closer to PyOD's one-pass scores (identical while the rows fit in one chunk). When the
training rows alone exceed the bound, chunks stay at 100,000 rows.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from . import automl, catalogue, deep, results
from .errors import DataError, DetectionFailed, EngineError, ParamError
from .graph_catalogue import is_graph_key
from .pipeline import (
    FittedPipeline,
    PipelineConfig,
    Progress,
    ScoreResult,
    ShouldStop,
    _check_stop,
    _drop_caches,
    _report,
)
from .prepare import Preparer
from .scores import AUTO_THRESHOLDER, Threshold, threshold_from_scores

# detect(raw_scorer=...): (fitted, frame) -> FittedPipeline.raw_scores(frame) of every row
RawScorer = Callable[[FittedPipeline, pd.DataFrame], tuple[np.ndarray, np.ndarray | None]]

__all__ = [
    "AUTO_THRESHOLDER",
    "FittedPipeline",
    "PipelineConfig",
    "RawScorer",
    "ScoreResult",
    "Threshold",
    "detect",
    "fit",
    "summarize",
    "threshold_from_scores",
    "warm_up",
]

# Detectors whose decision_function scores each row on its own, bitwise the same
# whichever rows share its batch (IForest: per-row tree walks, summed in tree order;
# HBOS: per-row histogram look-ups). Not ECOD/COPOD (they rank a batch together with
# the training rows) nor LSCP (random draws per call). With max_fit_rows, detect()
# scores all rows once and reads the sample's training scores from that pass; a test
# checks the result is identical to scoring the sample separately.
_ROW_WISE_SCORING = frozenset({"iforest", "hbos"})


def _fit_rows(
    n: int, config: PipelineConfig, labels: np.ndarray | None = None
) -> np.ndarray | None:
    """Positions (sorted) of the seeded training sample among ``n`` rows; None for all.

    Rows with a training label are always in the sample (labels are scarce).
    """
    limit = config.max_fit_rows
    if limit is None or n <= limit:
        return None
    rng = np.random.default_rng(config.seed)
    rows = np.sort(rng.choice(n, size=int(limit), replace=False))
    if labels is not None:
        rows = np.union1d(rows, np.flatnonzero(np.isfinite(labels)))
    return rows


def _labels(train_labels: np.ndarray | None, n: int) -> np.ndarray | None:
    if train_labels is None:
        return None
    labels = np.asarray(train_labels, dtype=np.float64).ravel()
    if len(labels) != n:
        raise DataError(f"{len(labels)} training labels for {n} rows")
    known = labels[np.isfinite(labels)]
    if not np.isin(known, (0.0, 1.0)).all():
        raise DataError("training labels must be 1 (anomaly), 0 (normal) or empty (unknown)")
    return labels


def fit(
    df: pd.DataFrame,
    config: PipelineConfig,
    *,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    chunk_size: int | None = None,
    train_labels: np.ndarray | None = None,
    training: deep.Training | None = None,
) -> FittedPipeline:
    """Prepare ``df``, fit every detector, and set the threshold from training scores.

    ``train_labels`` (one per row: 1 anomaly, 0 normal, NaN unknown) feed the ``auto``
    selection and label-trained detectors; other detectors ignore them.

    Raises
    ------
    DataError, ParamError, UnknownDetector, DetectorUnavailable, DetectionFailed, Cancelled
    """
    fitted, _, _ = _fit(
        df, config, progress, should_stop, chunk_size, train_labels=train_labels, training=training
    )
    return fitted


def _fit(
    df: pd.DataFrame,
    config: PipelineConfig,
    progress: Progress | None,
    should_stop: ShouldStop | None,
    chunk_size: int | None,
    *,
    score_training: bool = True,
    train_labels: np.ndarray | None = None,
    training: deep.Training | None = None,
) -> tuple[FittedPipeline, ScoreResult | None, np.ndarray | None]:
    """Fit; unless ``score_training`` is False, also score the training rows and set
    the threshold. Returns (fitted, training result or None, sample positions or None).
    """
    config = config.validated()
    graph_keys = [key for key, _ in config.detectors if is_graph_key(key)]
    if graph_keys:
        raise ParamError(
            "detectors",
            f"{graph_keys[0]} is a graph detector: it scores the nodes of a graph "
            "(pynomaly.graph; on the command line, pynomaly detect NODES --edges EDGES)",
        )
    if len(df) < 2:
        raise DataError("need at least 2 rows to fit a detector")
    _check_stop(should_stop)
    _report(progress, "preparing", 0, 1)
    labels = _labels(train_labels, len(df))
    rows = _fit_rows(len(df), config, labels)
    train_df = df if rows is None else df.iloc[rows]
    y = None if labels is None else (labels if rows is None else labels[rows])
    preparer = Preparer().fit(train_df, config.prepare, exclude=config.exclude_columns)
    X = preparer.transform(train_df)
    selection = None
    if automl.is_auto(config):
        auto_params = config.detectors[0][1]
        selection = automl.select(
            X,
            labels=y,
            rows=len(df),
            max_fit_rows=config.max_fit_rows,
            size=int(auto_params.get("max_detectors") or automl.ENSEMBLE_SIZE),
            seed=config.seed,
            should_stop=should_stop,
        )
        config = selection.config(config).validated()
    _report(progress, "preparing", 1, 1)
    training = training or deep.Training()
    device = None
    if any(deep.is_deep(key) for key, _ in config.detectors):
        device = deep.resolve_device(training.device)
        if training.base is not None:
            _check_base(training.base, config, preparer)
    started = time.perf_counter()
    detectors: list[Any] = []
    notes: list[str] = []
    total = len(config.detectors)
    _report(progress, "fitting", 0, total)
    for done, (key, params) in enumerate(config.detectors, start=1):
        _check_stop(should_stop)
        spec = catalogue.get_detector(key)
        if spec.family == "time series":
            raise DataError(
                f"{spec.short_name} is a time-series detector: analyse the dataset as time "
                "series (a time column and value columns)"
            )
        if spec.max_features is not None and X.shape[1] > spec.max_features:
            raise DataError(
                f"{spec.short_name} works on {spec.max_features} feature column(s); "
                f"this table has {X.shape[1]}: exclude the others"
            )
        value = config.threshold.value
        contamination = value if config.threshold.kind == "contamination" and value else 0.1
        params = _repair_params(key, params, X, notes)
        estimator = catalogue.build_detector(
            key, params, seed=config.seed, contamination=contamination, n_features=X.shape[1]
        )
        fitting: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if deep.is_deep(key):
            assert device is not None
            deep.place(estimator, device)
            if training.base is not None:
                estimator = deep.warm_start(key, estimator, training.base.detectors_[done - 1])
            deep.record_shape(estimator, X)
            deep.seed(config.seed)
            fitting = deep.training(
                key,
                estimator,
                rows=len(X),
                y=y if spec.supervised else None,
                on_epoch=training.on_epoch,
                should_stop=should_stop,
            )
        if spec.supervised and (y is None or not (y == 1).any()):
            raise DataError(
                f"{spec.short_name} is trained on labels: give a training label column "
                "with at least one known anomaly (1)"
            )
        try:
            with fitting:
                if spec.supervised:
                    estimator.fit(X, y)
                else:
                    estimator.fit(X)
        except (EngineError, MemoryError):
            raise
        except Exception as exc:  # the algorithms raise anything; report, don't crash
            raise DetectionFailed(f"{spec.short_name} failed: {exc}") from exc
        _drop_caches(estimator)
        detectors.append(estimator)
        _report(progress, "fitting", done, total)
    fitted = FittedPipeline(config, preparer, detectors)
    fitted.device = device
    fitted.notes = notes
    fitted.selection = selection.to_dict() if selection is not None else None
    fitted.n_train = len(train_df)  # chunk_rows() needs it before the training scores
    if not score_training:
        fitted.fit_seconds = time.perf_counter() - started
        return fitted, None, rows
    raw, contributions = fitted._raw_scores(X, chunk_size, progress, should_stop)
    del X
    fitted._set_training_scores(raw)
    fitted.fit_seconds = time.perf_counter() - started
    combined = fitted._combine(raw)
    train_result = fitted._result(combined, contributions)
    return fitted, train_result, rows


def _check_base(base: FittedPipeline, config: PipelineConfig, preparer: Preparer) -> None:
    """A model to fine-tune from must hold the same detectors over the same features."""
    if list(base.keys) != [key for key, _ in config.detectors]:
        raise ParamError(
            "base_model",
            f"the base model holds {', '.join(base.keys)}; this run trains "
            f"{', '.join(k for k, _ in config.detectors)}: fine-tune the same detector",
        )
    for key in base.keys:
        if key not in deep.FINE_TUNABLE:
            raise ParamError(
                "base_model",
                f"{catalogue.get_detector(key).short_name} cannot be fine-tuned (its PyOD "
                "training always starts a new network); AutoEncoder and VAE can",
            )
    if list(base.feature_names) != list(preparer.feature_names):
        raise ParamError(
            "base_model",
            "the base model was trained on other columns ("
            + ", ".join(base.feature_names[:8])
            + "): fine-tune on data of the same schema",
        )


def _repair_params(
    key: str, params: dict[str, Any], X: np.ndarray, notes: list[str]
) -> dict[str, Any]:
    """Adjust params that would make a detector produce garbage on this data.

    PCA keeps every component by default; when features are linearly dependent
    (one column a multiple or sum of others) the last components have zero
    variance and PyOD divides by it: every score becomes infinite, silently. We keep
    only as many components as the data has independent directions.
    """
    if key != "pca" or params.get("n_components") is not None:
        return params
    sample = X[:100_000]
    rank = int(np.linalg.matrix_rank(sample - sample.mean(axis=0)))
    if 0 < rank < X.shape[1]:
        notes.append(
            f"PCA: the {X.shape[1]} features have only {rank} independent directions "
            f"(some columns are combinations of others); using {rank} components"
        )
        return {**params, "n_components": rank}
    return params


def detect(
    df: pd.DataFrame,
    config: PipelineConfig,
    *,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    chunk_size: int | None = None,
    train_labels: np.ndarray | None = None,
    training: deep.Training | None = None,
    raw_scorer: RawScorer | None = None,
) -> tuple[FittedPipeline, ScoreResult]:
    """Fit on ``df`` (or a sample of it) and score every row (``train_labels``: see fit).

    ``raw_scorer(fitted, df)``: scores the rows the fit did not already score, in place of
    :meth:`FittedPipeline.raw_scores` in this process (the platform spreads a large run's
    rows over its Celery workers); it must return what that method returns for ``df``.
    """
    rowwise = raw_scorer is None and all(
        catalogue.get_detector(key).key in _ROW_WISE_SCORING for key, _ in config.detectors
    )
    if rowwise and train_labels is None and _fit_rows(len(df), config) is not None:
        # Fitted on a sample of the rows, with detectors whose score of a row does not
        # depend on the other rows scored with it: score every row once and take the
        # sample's training scores from that pass (bitwise the scores a separate pass
        # over the sample gives), instead of scoring the sample twice.
        fitted, _, rows = _fit(
            df,
            config,
            progress,
            should_stop,
            chunk_size,
            score_training=False,
            training=training,
        )
        raw, contributions = fitted._raw_scores(None, chunk_size, progress, should_stop, frame=df)
        fitted._set_training_scores(raw[rows])
        result = fitted._result(fitted._combine(raw), contributions)
    else:
        fitted, train_result, _ = _fit(
            df,
            config,
            progress,
            should_stop,
            chunk_size,
            train_labels=train_labels,
            training=training,
        )
        if fitted.n_train == len(df):
            # The training rows are all the rows, scored with the same chunks: reuse.
            assert train_result is not None  # _fit scored the training rows
            result = train_result
        elif raw_scorer is not None:
            result = fitted.result_of(*raw_scorer(fitted, df))
        else:
            result = fitted.score(
                df, chunk_size=chunk_size, progress=progress, should_stop=should_stop
            )
    if fitted.n_train != len(df) and fitted.config.threshold.kind == "top_k":
        # top_k means the k highest of the rows in front of the user, not of a sample
        fitted.threshold_ = threshold_from_scores(result.scores, fitted.config.threshold)
        result = fitted._result(result.scores, result.contributions)
    return fitted, result


def summarize(result: ScoreResult, *, top: int = 20) -> dict[str, Any]:
    """JSON-able summary: counts, score quantiles and the ``top`` highest rows."""
    scores = result.scores
    n = len(scores)
    anomalies = int(result.labels.sum())
    quantiles = results.quantiles(scores) or dict.fromkeys(results.QUANTILES)
    top = max(0, min(int(top), n))
    if top:
        candidates = np.argpartition(-scores, top - 1)[:top] if top < n else np.arange(n)
        order = candidates[np.lexsort((candidates, -scores[candidates]))]
    else:
        order = np.array([], dtype=int)
    return {
        "rows": n,
        "anomalies": anomalies,
        "anomaly_rate": anomalies / n if n else 0.0,
        "threshold": float(result.threshold),
        "quantiles": quantiles,
        "top": [
            {"row": int(i), "score": float(scores[i]), "severity": float(result.severity[i])}
            for i in order
        ],
    }


def warm_up() -> None:
    """Compile HBOS's numba code in this process (call once per worker, after fork)."""
    from pyod.models.hbos import HBOS

    rng = np.random.default_rng(0)
    X = np.ascontiguousarray(rng.normal(size=(64, 3)), dtype=np.float64)
    HBOS().fit(X).decision_function(X)
