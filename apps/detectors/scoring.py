"""Online scoring: trained models loaded once per process, kept warm, scored per request.

A model is read with ``pynomaly.persist.load`` (checksum from the row, skops allowlist)
the first time it is asked for, warmed (HBOS's numba code compiles then, not on a
user's request), and kept in a small LRU keyed by ``(model.pk, model.sha256)``: a
replaced artifact has a new digest, so the stale entry simply falls out.

ECOD and COPOD score new rows *together with their stored training set*: each request
costs time proportional to the training rows, and a record's score depends slightly on
the other records sent in the same request (see PITFALLS.md). Send the records that
belong together in one request, or pick another detector for online use.
"""

from __future__ import annotations

import itertools
import logging
import operator
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.conf import settings

from apps.common.storage import local_path
from pynomaly.errors import DataError, LimitExceeded

from .models import TrainedModel

logger = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 8
DEFAULT_MAX_RECORDS = 100_000
# Below this many rows a forest is walked tree by tree here; above it PyOD's own
# decision_function (and the engine's row-block threads) is as fast.
DIRECT_FOREST_MAX_ROWS = 20_000


@dataclass
class WarmModel:
    """A loaded pipeline; ``lock`` serialises scoring (ECOD/COPOD keep per-call state)."""

    fitted: object
    input_columns: list[str]
    numeric_columns: list[str] | None = None  # set when the numeric fast path applies
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModelCache:
    """Bounded, thread-safe LRU of warm models; one load per key even under concurrency."""

    def __init__(self, size: int | None = None):
        self._size = size
        self._items: OrderedDict[tuple[int, str], WarmModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[int, str], threading.Lock] = {}
        self.loads = 0  # how many times an artifact was read (tests and metrics)

    @property
    def size(self) -> int:
        size = (
            self._size
            if self._size is not None
            else getattr(settings, "SCORING_CACHE_SIZE", DEFAULT_CACHE_SIZE)
        )
        return max(1, int(size))

    def get(self, model: TrainedModel) -> WarmModel:
        key = (model.pk, model.sha256)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # a second request for the same model waits for the first load
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
            warm = _load_warm(model)
            with self._lock:
                self.loads += 1
                # a changed artifact of the same model replaces the old entry at once
                for stale in [k for k in self._items if k[0] == model.pk]:
                    del self._items[stale]
                self._items[key] = warm
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._loading.pop(key, None)
            return warm

    def __contains__(self, model: TrainedModel) -> bool:
        with self._lock:
            return (model.pk, model.sha256) in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.loads = 0


cache = ModelCache()


def score_records(*, model: TrainedModel, records: list[dict]) -> dict:
    """Score ``records`` (dicts keyed by input column) with ``model``; plain lists back.

    Raises ``pynomaly.errors.DataError`` for unusable records (naming the column) and
    ``ArtifactError`` when the stored artifact fails its checksum.
    """
    limit = getattr(settings, "SCORING_MAX_RECORDS", DEFAULT_MAX_RECORDS)
    if not isinstance(records, list) or not records:
        raise DataError("records must be a non-empty list of objects")
    if len(records) > limit:
        raise LimitExceeded(f"at most {limit:,} records per request; got {len(records):,}")
    warm = cache.get(model)
    check_records(records, warm.input_columns)
    X = numeric_matrix(warm, records)
    with warm.lock:
        # One chunk for the whole request: the batch is bounded above, and for
        # ECOD/COPOD a request is then scored as one batch, as documented.
        if X is not None:
            result = warm.fitted.score_array(X, chunk_size=len(X))
        else:
            frame = records_frame(records, warm.input_columns)
            result = warm.fitted.score(frame, chunk_size=len(frame))
    return {
        "scores": result.scores.tolist(),
        "labels": result.labels.astype(int).tolist(),
        "severity": result.severity.tolist(),
        "threshold": float(result.threshold),
    }


def check_records(records: list, columns: list[str]) -> None:
    """Every record is an object holding every input column (DataError names the first gap)."""
    wanted = set(columns)
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(f"record {i} is not an object of column: value pairs")
        if not wanted.issubset(record.keys()):
            missing = next(c for c in columns if c not in record)
            raise DataError(
                f"record {i} has no value for column '{missing}' (the model reads: "
                f"{', '.join(columns)})",
                column=missing,
            )


def records_frame(records: list, columns: list[str]) -> pd.DataFrame:
    """A DataFrame of the model's input columns; extra keys are ignored."""
    check_records(records, columns)
    return pd.DataFrame({c: [r[c] for r in records] for c in columns}, columns=columns)


def numeric_matrix(warm: WarmModel, records: list[dict]) -> np.ndarray | None:
    """Prepared features built straight from plain numbers, or None to take pandas' path.

    For one record the general preparation (a DataFrame, per-column pandas conversion)
    costs several times the scoring itself. When every input column of the model is
    numeric and every value is a finite int or float, the result is the same matrix
    (checked against ``Preparer.transform`` when the model is loaded); anything else —
    text, missing values to impute, categories — goes through the engine unchanged.
    """
    columns = warm.numeric_columns
    if columns is None:
        return None
    if len(columns) == 1:
        (column,) = columns
        rows = [(r[column],) for r in records]
    else:
        rows = list(map(operator.itemgetter(*columns), records))
    # bool is not int here (type, not isinstance): True must not score as 1.0
    if not _PLAIN_NUMBERS.issuperset(map(type, itertools.chain.from_iterable(rows))):
        return None
    try:
        matrix = np.array(rows, dtype=np.float64)
    except OverflowError:
        return None
    if not np.isfinite(matrix).all():
        return None
    return _scaled(warm.fitted.preparer, matrix)


_PLAIN_NUMBERS = frozenset({float, int})


def _scaled(preparer, matrix: np.ndarray) -> np.ndarray:
    if preparer.options.get("scaling", "none") != "none":
        matrix = (matrix - preparer.center) / preparer.scale
    return np.ascontiguousarray(matrix, dtype=np.float64)


def _numeric_columns(fitted) -> list[str] | None:
    """Plan columns when all are plain numeric and the fast path reproduces transform."""
    preparer = fitted.preparer
    plan = getattr(preparer, "plan", None)
    if not plan or any(step.get("kind") != "numeric" for step in plan):
        return None
    columns = [step["column"] for step in plan]
    sample = np.random.default_rng(2).normal(size=(16, len(columns))) * 10
    frame = pd.DataFrame(sample, columns=columns)
    try:
        same = np.array_equal(_scaled(preparer, sample.copy()), preparer.transform(frame))
    except Exception:
        same = False
    return columns if same else None


# ---------------------------------------------------------------------------- loading


def _load_warm(model: TrainedModel) -> WarmModel:
    from pynomaly import persist

    with local_path(model.artifact) as path:
        fitted = persist.load(path, sha256=model.sha256)
    _use_direct_forests(fitted)
    _warm(fitted)
    columns = list(model.input_columns or fitted.preparer.input_columns)
    logger.info("model %s loaded for scoring (%s)", model.pk, ", ".join(fitted.keys))
    return WarmModel(fitted=fitted, input_columns=columns, numeric_columns=_numeric_columns(fitted))


def _warm(fitted) -> None:
    """Score a few made-up rows so first-call costs (numba JIT, lazy imports) are paid now."""
    rng = np.random.default_rng(0)
    X = np.ascontiguousarray(rng.normal(size=(8, len(fitted.feature_names))), dtype=np.float64)
    try:
        fitted.score_array(X, chunk_size=len(X))
        fitted.score_array(X[:1], chunk_size=1)
    except Exception:  # a model that cannot score noise may still score real rows
        logger.warning("warm-up of a scoring model failed", exc_info=True)


# ---------------------------------------------------------------- direct forest path


def _use_direct_forests(fitted) -> None:
    """Swap IForest estimators for :class:`DirectForest` when it gives identical scores."""
    rng = np.random.default_rng(1)
    X = np.ascontiguousarray(rng.normal(size=(16, len(fitted.feature_names))), dtype=np.float64)
    for j, key in enumerate(fitted.keys):
        if key != "iforest":
            continue
        estimator = fitted.detectors_[j]
        try:
            direct = DirectForest(estimator)
            same = np.array_equal(direct.decision_function(X), estimator.decision_function(X))
        except Exception:  # sklearn internals moved: keep PyOD's path
            same = False
        if same:
            fitted.detectors_[j] = direct
        else:
            logger.warning("direct forest scoring disagrees with PyOD here; not used")


class DirectForest:
    """PyOD ``IForest.decision_function`` without joblib's per-tree dispatch.

    scikit-learn scores an isolation forest through ``joblib.Parallel`` even when it is
    sequential; for a handful of rows that wrapper (config context, warning filters per
    tree) costs ~20x the tree walks themselves. This walks the same trees in the same
    order with the same arithmetic, so scores are bitwise equal (checked at load).
    """

    def __init__(self, estimator):
        from sklearn.ensemble._iforest import _average_path_length

        forest = estimator.detector_
        subsample = forest._max_features != forest.n_features_in_
        self.estimator = estimator
        self.trees = [
            (tree.tree_, features if subsample else None, np.asarray(dpl), np.asarray(apl))
            for tree, features, dpl, apl in zip(
                forest.estimators_,
                forest.estimators_features_,
                forest._decision_path_lengths,
                forest._average_path_length_per_tree,
                strict=True,
            )
        ]
        self.denominator = len(self.trees) * _average_path_length([forest._max_samples])
        self.offset = forest.offset_

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        if len(X) > DIRECT_FOREST_MAX_ROWS:
            return self.estimator.decision_function(X)
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        depths = np.zeros(len(X32))
        for tree, features, decision_lengths, average_lengths in self.trees:
            leaves = tree.apply(X32 if features is None else np.ascontiguousarray(X32[:, features]))
            depths += decision_lengths[leaves] + average_lengths[leaves] - 1.0
        denominator = self.denominator
        scores = 2 ** (
            -np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0)
        )
        # sklearn: decision = -scores - offset_; PyOD inverts the sign
        return ((-scores) - self.offset) * -1
