"""Fit a detection pipeline on a table and score rows with it.

A pipeline is: prepare the features (:mod:`pynomaly.prepare`), fit one detector or
several (an ensemble), combine their scores, and cut at a threshold. Scores are
always "higher = more anomalous".

Ensembles and thresholds: see :mod:`pynomaly.scores`.

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

import copy
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import catalogue, results
from .errors import Cancelled, DataError, DetectionFailed, EngineError, ParamError
from .fastscore import Decision, RecordScorer, decision_functions
from .prepare import PrepareOptions, Preparer
from .scores import AUTO_THRESHOLDER, COMBINERS, Threshold, threshold_from_scores

__all__ = [
    "AUTO_THRESHOLDER",
    "FittedPipeline",
    "PipelineConfig",
    "ScoreResult",
    "Threshold",
    "detect",
    "fit",
    "summarize",
    "threshold_from_scores",
    "warm_up",
]

Progress = Callable[[str, int, int], None]
ShouldStop = Callable[[], bool]

# Tree ensembles whose scoring we split over 2 threads: measured on 400k rows,
# IForest 11.7 s sequential, 8.3 s under joblib's threading backend, 6.7 s with
# row blocks in threads (see _decision).
_THREADED_SCORING = frozenset({"iforest"})
_THREADED_MIN_ROWS = 20_000
# LSCP draws random feature subsets from the RandomState it keeps, at every call:
# scoring the same rows twice gave scores 0.65 apart. We restart that RandomState
# from the pipeline seed before each chunk, so a row's score depends only on the
# seed and its chunk.
_RESEED_BEFORE_SCORING = frozenset({"lscp"})
# Detectors whose decision_function scores each row on its own, bitwise the same
# whichever rows share its batch (IForest: per-row tree walks, summed in tree order;
# HBOS: per-row histogram look-ups). Not ECOD/COPOD (they rank a batch together with
# the training rows) nor LSCP (random draws per call). With max_fit_rows, detect()
# scores all rows once and reads the sample's training scores from that pass; a test
# checks the result is identical to scoring the sample separately.
_ROW_WISE_SCORING = frozenset({"iforest", "hbos"})
_SEVERITY_GRID = 1001
DEFAULT_CHUNK_ROWS = 100_000
# Batch-ranked detectors (module note): larger chunks while train + chunk rows fit
# in this many cells.
_BATCH_RANKED = frozenset({"ecod", "copod"})
_BATCH_RANKED_CELLS = 3_500_000


@dataclass(frozen=True)
class PipelineConfig:
    """What to run: detectors and their params, combination, preparation, threshold."""

    detectors: tuple[tuple[str, dict[str, Any]], ...]
    combine: Literal["average", "maximum", "aom", "moa"] = "average"
    prepare: PrepareOptions = field(default_factory=PrepareOptions)
    threshold: Threshold = field(default_factory=Threshold)
    seed: int = 42
    max_fit_rows: int | None = None
    exclude_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        pairs = tuple((str(key), dict(params or {})) for key, params in self.detectors)
        if not pairs:
            raise ParamError("detectors", "choose at least one detector")
        object.__setattr__(self, "detectors", pairs)
        object.__setattr__(self, "exclude_columns", tuple(str(c) for c in self.exclude_columns))
        if self.combine not in COMBINERS:
            raise ParamError("combine", f"must be one of {', '.join(COMBINERS)}")
        if self.max_fit_rows is not None and int(self.max_fit_rows) < 2:
            raise ParamError("max_fit_rows", "must be at least 2")

    def validated(self) -> PipelineConfig:
        """A copy whose detector params are checked and completed by the catalogue."""
        pairs = tuple(
            (catalogue.get_detector(key).key, catalogue.get_detector(key).validate_params(params))
            for key, params in self.detectors
        )
        return PipelineConfig(
            detectors=pairs,
            combine=self.combine,
            prepare=self.prepare,
            threshold=self.threshold,
            seed=self.seed,
            max_fit_rows=self.max_fit_rows,
            exclude_columns=self.exclude_columns,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "detectors": [{"key": key, "params": dict(params)} for key, params in self.detectors],
            "combine": self.combine,
            "prepare": self.prepare.to_dict(),
            "threshold": self.threshold.to_dict(),
            "seed": self.seed,
            "max_fit_rows": self.max_fit_rows,
            "exclude_columns": list(self.exclude_columns),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        """Build and validate (UnknownDetector / ParamError on bad keys or params)."""
        detectors: list[tuple[str, dict[str, Any]]] = []
        for item in data.get("detectors") or ():
            if isinstance(item, dict):
                detectors.append((item["key"], item.get("params") or {}))
            else:
                key, params = item
                detectors.append((key, params or {}))
        config = cls(
            detectors=tuple(detectors),
            combine=data.get("combine", "average"),
            prepare=PrepareOptions.from_dict(data.get("prepare")),
            threshold=Threshold.from_dict(data.get("threshold")),
            seed=int(data.get("seed", 42)),
            max_fit_rows=data.get("max_fit_rows"),
            exclude_columns=tuple(data.get("exclude_columns") or ()),
        )
        return config.validated()


@dataclass(frozen=True)
class ScoreResult:
    """Scores of a set of rows, plus labels and severity (0-100)."""

    scores: np.ndarray
    labels: np.ndarray
    severity: np.ndarray
    threshold: float
    contributions: np.ndarray | None
    feature_names: list[str]


# --- fitting ---------------------------------------------------------------------------


def _check_stop(should_stop: ShouldStop | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("stopped on request")


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def _fit_rows(n: int, config: PipelineConfig) -> np.ndarray | None:
    """Positions (sorted) of the seeded training sample among ``n`` rows; None for all."""
    limit = config.max_fit_rows
    if limit is None or n <= limit:
        return None
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(n, size=int(limit), replace=False))


def fit(
    df: pd.DataFrame,
    config: PipelineConfig,
    *,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    chunk_size: int | None = None,
) -> FittedPipeline:
    """Prepare ``df``, fit every detector, and set the threshold from training scores.

    Raises
    ------
    DataError, ParamError, UnknownDetector, DetectorUnavailable, DetectionFailed, Cancelled
    """
    fitted, _, _ = _fit(df, config, progress, should_stop, chunk_size)
    return fitted


def _fit(
    df: pd.DataFrame,
    config: PipelineConfig,
    progress: Progress | None,
    should_stop: ShouldStop | None,
    chunk_size: int | None,
    *,
    score_training: bool = True,
) -> tuple[FittedPipeline, ScoreResult | None, np.ndarray | None]:
    """Fit; unless ``score_training`` is False, also score the training rows and set
    the threshold. Returns (fitted, training result or None, sample positions or None).
    """
    config = config.validated()
    if len(df) < 2:
        raise DataError("need at least 2 rows to fit a detector")
    _check_stop(should_stop)
    _report(progress, "preparing", 0, 1)
    rows = _fit_rows(len(df), config)
    train_df = df if rows is None else df.iloc[rows]
    preparer = Preparer().fit(train_df, config.prepare, exclude=config.exclude_columns)
    X = preparer.transform(train_df)
    _report(progress, "preparing", 1, 1)
    started = time.perf_counter()
    detectors: list[Any] = []
    notes: list[str] = []
    total = len(config.detectors)
    _report(progress, "fitting", 0, total)
    for done, (key, params) in enumerate(config.detectors, start=1):
        _check_stop(should_stop)
        spec = catalogue.get_detector(key)
        if spec.max_features is not None and X.shape[1] > spec.max_features:
            raise DataError(
                f"{spec.short_name} works on {spec.max_features} feature column(s); "
                f"this table has {X.shape[1]}: exclude the others"
            )
        value = config.threshold.value
        contamination = value if config.threshold.kind == "contamination" and value else 0.1
        params = _repair_params(key, params, X, notes)
        estimator = catalogue.build_detector(
            key, params, seed=config.seed, contamination=contamination
        )
        try:
            estimator.fit(X)
        except (EngineError, MemoryError):
            raise
        except Exception as exc:  # the algorithms raise anything; report, don't crash
            raise DetectionFailed(f"{spec.short_name} failed: {exc}") from exc
        _drop_caches(estimator)
        detectors.append(estimator)
        _report(progress, "fitting", done, total)
    fitted = FittedPipeline(config, preparer, detectors)
    fitted.notes = notes
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


def _drop_caches(estimator: Any) -> None:
    # ECOD/COPOD keep per-row matrices of the last batch scored (train + batch):
    # memory we do not need and would otherwise write into every saved model.
    for attr in ("O", "U_l", "U_r", "U_skew"):
        if attr in vars(estimator):
            delattr(estimator, attr)


class FittedPipeline:
    """A fitted pipeline: preparation, detectors and threshold.

    Attributes
    ----------
    config : PipelineConfig
    preparer : Preparer
    detectors_ : list
        Fitted estimators, in the order of ``config.detectors``.
    threshold_ : float
        Cut on the combined score scale: rows scoring above it are anomalies.
    feature_names : list of str
    score_mean_, score_std_ : ndarray
        Per-detector training-score statistics used to standardise ensembles.
    severity_grid_ : ndarray
        Quantiles (0, 0.1, ..., 100 %) of the combined training scores.
    fit_seconds : float
    n_train : int
    """

    def __init__(self, config: PipelineConfig, preparer: Preparer, detectors: list[Any]) -> None:
        self.config = config
        self.preparer = preparer
        self.detectors_ = detectors
        self.feature_names = list(preparer.feature_names)
        self.threshold_ = math.nan
        self.score_mean_ = np.zeros(len(detectors))
        self.score_std_ = np.ones(len(detectors))
        self.severity_grid_ = np.zeros(0)
        self.train_scores_: np.ndarray | None = None  # not saved; for threshold_for
        self.fit_seconds = 0.0
        self.n_train = 0
        self.notes: list[str] = []  # repairs made while fitting, to show the user
        self._decisions: list[Decision] | None = None  # see decision_functions()

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.config.detectors]

    # -- scoring ---------------------------------------------------------------------

    def decision_functions(self) -> list[Decision]:
        """Per detector, the function that scores a prepared chunk (see :mod:`pynomaly.fastscore`).

        Built once, on the first call (``persist.load`` makes it at load): a fast path is
        used only where it gives PyOD's scores bit for bit, else PyOD's own.
        """
        if self._decisions is None:
            self._decisions = decision_functions(
                self.keys, self.detectors_, len(self.feature_names)
            )
        return self._decisions

    def scorer(self, input_columns: Sequence[str] | None = None) -> RecordScorer:
        """A :class:`~pynomaly.fastscore.RecordScorer` for online scoring of records."""
        return RecordScorer(self, input_columns)

    def _raw_scores(
        self,
        X: np.ndarray | None,
        chunk_size: int | None,
        progress: Progress | None,
        should_stop: ShouldStop | None,
        *,
        frame: pd.DataFrame | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-detector scores (n x n_detectors), chunk by chunk, checked finite.

        With ``frame`` given, ``X`` is ignored and each chunk of the frame is
        prepared just before it is scored, so memory holds one prepared chunk.
        """
        chunk_size = self.chunk_rows(chunk_size)
        if frame is not None:
            n = len(frame)
        else:
            assert X is not None  # callers pass X or frame
            n = X.shape[0]
        n_features = len(self.feature_names)
        total = max(1, math.ceil(n / chunk_size))
        raw = np.empty((n, len(self.detectors_)), dtype=np.float64)
        want_contrib = (
            len(self.detectors_) == 1 and catalogue.get_detector(self.keys[0]).contributions
        )
        contributions = np.empty((n, n_features)) if want_contrib else None
        _report(progress, "scoring", 0, total)
        for done, start in enumerate(range(0, n, chunk_size), start=1):
            _check_stop(should_stop)
            if frame is not None:
                chunk = self.preparer.transform(frame.iloc[start : start + chunk_size])
            else:
                assert X is not None
                chunk = np.ascontiguousarray(X[start : start + chunk_size], dtype=np.float64)
            decisions = self.decision_functions()
            for j, (key, estimator) in enumerate(zip(self.keys, self.detectors_, strict=True)):
                if key in _RESEED_BEFORE_SCORING:
                    estimator.random_state = np.random.RandomState(self.config.seed)
                raw[start : start + len(chunk), j] = _decision(key, decisions[j], chunk)
                if contributions is not None:
                    # ECOD/COPOD: per-feature tail probabilities, rows train + chunk
                    contributions[start : start + len(chunk)] = estimator.O[-len(chunk) :]
                _drop_caches(estimator)
            _report(progress, "scoring", done, total)
        for j, key in enumerate(self.keys):
            bad = ~np.isfinite(raw[:, j])
            if bad.any():
                name = catalogue.get_detector(key).short_name
                raise DetectionFailed(
                    f"{name} produced {int(bad.sum())} non-finite scores (of {n}); "
                    "often caused by constant or duplicated columns: keep "
                    "'drop constant columns' on, or remove redundant columns"
                )
        return raw, contributions

    def chunk_rows(self, chunk_size: int | None = None) -> int:
        """Rows scored per chunk: ``chunk_size``, or the default (see the module note)."""
        if chunk_size is not None:
            return max(1, int(chunk_size))
        if not any(key in _BATCH_RANKED for key in self.keys):
            return DEFAULT_CHUNK_ROWS
        room = _BATCH_RANKED_CELLS // max(1, len(self.feature_names)) - self.n_train
        return max(DEFAULT_CHUNK_ROWS, room)

    def _combine(self, raw: np.ndarray) -> np.ndarray:
        if raw.shape[1] == 1:
            return raw[:, 0].copy()
        standardised = (raw - self.score_mean_) / self.score_std_
        combined: np.ndarray = COMBINERS[self.config.combine](standardised)
        return combined

    def _set_training_scores(self, raw: np.ndarray) -> None:
        self.n_train = raw.shape[0]
        self.score_mean_ = raw.mean(axis=0)
        std = raw.std(axis=0)
        self.score_std_ = np.where(std > 0, std, 1.0)
        combined = self._combine(raw)
        self.train_scores_ = combined
        self.severity_grid_ = np.quantile(combined, np.linspace(0, 1, _SEVERITY_GRID))
        self.threshold_ = self.threshold_for(self.config.threshold)

    def _result(self, combined: np.ndarray, contributions: np.ndarray | None) -> ScoreResult:
        return ScoreResult(
            scores=combined,
            labels=(combined > self.threshold_).astype(np.int8),
            severity=self.severity(combined),
            threshold=float(self.threshold_),
            contributions=contributions,
            feature_names=list(self.feature_names),
        )

    def severity(self, scores: np.ndarray) -> np.ndarray:
        """Percentile (0-100) of each score among the training scores; monotone."""
        grid = self.severity_grid_
        return 100.0 * np.searchsorted(grid, scores, side="right") / len(grid)

    def score(
        self,
        df: pd.DataFrame,
        *,
        chunk_size: int | None = None,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> ScoreResult:
        """Prepare and score ``df`` chunk by chunk (see the module note on ECOD/COPOD)."""
        missing = [c for c in self.preparer.input_columns if c not in set(map(str, df.columns))]
        if missing:  # fail before any work, not at the chunk that first needs it
            raise DataError(f"column '{missing[0]}' used in training is missing", column=missing[0])
        raw, contributions = self._raw_scores(None, chunk_size, progress, should_stop, frame=df)
        return self._result(self._combine(raw), contributions)

    def score_array(
        self,
        X: np.ndarray,
        *,
        chunk_size: int | None = None,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> ScoreResult:
        """Score an already prepared array (``preparer.transform`` output)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise DataError(
                f"expected {len(self.feature_names)} prepared features, got shape {X.shape}"
            )
        raw, contributions = self._raw_scores(X, chunk_size, progress, should_stop)
        return self._result(self._combine(raw), contributions)

    # -- thresholds ------------------------------------------------------------------

    def threshold_for(self, threshold: Threshold) -> float:
        """The cut on the combined score scale that ``threshold`` means on training scores."""
        if threshold.kind == "score" and threshold.value is not None:
            return float(threshold.value)
        scores = self.train_scores_
        if scores is None:
            raise EngineError(
                "training scores are not kept in a loaded model; use a score threshold or refit"
            )
        return threshold_from_scores(scores, threshold)

    def with_threshold(self, value: float) -> FittedPipeline:
        """A copy that cuts at ``value`` instead (no refit; detectors are shared)."""
        value = float(value)
        if not math.isfinite(value):
            raise ParamError("threshold", "must be a finite number")
        clone = copy.copy(self)
        clone.config = PipelineConfig(
            detectors=self.config.detectors,
            combine=self.config.combine,
            prepare=self.config.prepare,
            threshold=Threshold("score", value),
            seed=self.config.seed,
            max_fit_rows=self.config.max_fit_rows,
            exclude_columns=self.config.exclude_columns,
        )
        clone.threshold_ = value
        return clone


def detect(
    df: pd.DataFrame,
    config: PipelineConfig,
    *,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    chunk_size: int | None = None,
) -> tuple[FittedPipeline, ScoreResult]:
    """Fit on ``df`` (or a sample of it) and score every row."""
    rowwise = all(
        catalogue.get_detector(key).key in _ROW_WISE_SCORING for key, _ in config.detectors
    )
    if rowwise and _fit_rows(len(df), config) is not None:
        # Fitted on a sample of the rows, with detectors whose score of a row does not
        # depend on the other rows scored with it: score every row once and take the
        # sample's training scores from that pass (bitwise the scores a separate pass
        # over the sample gives), instead of scoring the sample twice.
        fitted, _, rows = _fit(df, config, progress, should_stop, chunk_size, score_training=False)
        raw, contributions = fitted._raw_scores(None, chunk_size, progress, should_stop, frame=df)
        fitted._set_training_scores(raw[rows])
        result = fitted._result(fitted._combine(raw), contributions)
    else:
        fitted, train_result, _ = _fit(df, config, progress, should_stop, chunk_size)
        if fitted.n_train == len(df):
            # The training rows are all the rows, scored with the same chunks: reuse.
            assert train_result is not None  # _fit scored the training rows
            result = train_result
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


def _decision(key: str, decision: Decision, X: np.ndarray) -> np.ndarray:
    threads = min(2, os.cpu_count() or 1)
    if key in _THREADED_SCORING and threads > 1 and len(X) >= _THREADED_MIN_ROWS:
        # Row blocks in threads (tree traversal releases the GIL). Unlike joblib's
        # threading backend, which splits the *trees* and sums depths in completion
        # order (scores then differ by ~1e-16 from run to run), every row here goes
        # through the same sequential code, so scores are bitwise reproducible.
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(decision, np.array_split(X, threads)))
        return np.asarray(np.concatenate(parts), dtype=np.float64).ravel()
    return np.asarray(decision(X), dtype=np.float64).ravel()


def warm_up() -> None:
    """Compile HBOS's numba code in this process (call once per worker, after fork)."""
    from pyod.models.hbos import HBOS

    rng = np.random.default_rng(0)
    X = np.ascontiguousarray(rng.normal(size=(64, 3)), dtype=np.float64)
    HBOS().fit(X).decision_function(X)
