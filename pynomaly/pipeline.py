"""The fitted pipeline: what to run (:class:`PipelineConfig`), and the fitted result
that scores rows (:class:`FittedPipeline`) into a :class:`ScoreResult`.

Fitting and the ``detect()`` workflow live in :mod:`pynomaly.detect`, whose module note
explains the chunk sizes used here (ECOD/COPOD rank each chunk with the training rows).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import catalogue
from .errors import Cancelled, DataError, DetectionFailed, EngineError, ParamError
from .fastscore import Decision, RecordScorer, decision_functions
from .prepare import PrepareOptions, Preparer
from .scores import COMBINERS, Threshold, threshold_from_scores

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
# Deep detectors draw from torch's generator while scoring (VAE samples its latent code):
# reseeded before each chunk, like LSCP.
_TORCH_SEEDED = frozenset(
    "autoencoder vae deepsvdd so_gaal mo_gaal lunar dif anogan alad ae1svm devnet".split()
)
_SEVERITY_GRID = 1001
DEFAULT_CHUNK_ROWS = 100_000
# Batch-ranked detectors (pynomaly.detect's module note): larger chunks while
# train + chunk rows fit in this many cells.
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
        if len(pairs) > 1 and any(key.strip().lower() == "auto" for key, _ in pairs):
            raise ParamError("detectors", "'auto' chooses the detectors: use it on its own")
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


def _check_stop(should_stop: ShouldStop | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("stopped on request")


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def _seed_torch(seed: int) -> None:
    from .deep import seed as deep_seed

    deep_seed(seed)


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
        self.selection: dict[str, Any] | None = None  # what ``auto`` chose (automl.Selection)
        self.device: str | None = None  # torch device deep detectors trained on (else None)
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
                if key in _TORCH_SEEDED:
                    _seed_torch(self.config.seed)
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
        """Rows scored per chunk: ``chunk_size``, or the default (see :mod:`pynomaly.detect`)."""
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
        """Prepare and score ``df`` chunk by chunk (see :mod:`pynomaly.detect` on ECOD/COPOD)."""
        missing = [c for c in self.preparer.input_columns if c not in set(map(str, df.columns))]
        if missing:  # fail before any work, not at the chunk that first needs it
            raise DataError(f"column '{missing[0]}' used in training is missing", column=missing[0])
        return self.result_of(
            *self.raw_scores(df, chunk_size=chunk_size, progress=progress, should_stop=should_stop)
        )

    def raw_scores(
        self,
        df: pd.DataFrame,
        *,
        chunk_size: int | None = None,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-detector scores of ``df`` (n x detectors) and their per-feature contributions
        (or None), before combining: one part of a score spread over processes.

        Parts cut on :meth:`chunk_rows` boundaries and concatenated in row order give
        :meth:`result_of` exactly the result :meth:`score` gives for the whole frame.
        """
        return self._raw_scores(None, chunk_size, progress, should_stop, frame=df)

    def result_of(self, raw: np.ndarray, contributions: np.ndarray | None) -> ScoreResult:
        """The result of every row from :meth:`raw_scores` output (combined, cut, ranked)."""
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
        clone.selection = self.selection
        return clone


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
