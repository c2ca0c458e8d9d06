"""Fast scoring paths behind a fitted pipeline, each checked against PyOD before it is used.

Two costs dominate scoring a handful of rows, and neither is the detector's arithmetic:

* scikit-learn scores an isolation forest through ``joblib.Parallel`` even when it is
  sequential; for a few rows that wrapper (config context, warning filters per tree) costs
  ~20x the tree walks themselves. :class:`DirectForest` walks the same trees in the same
  order with the same arithmetic. :func:`decision_functions` uses it only when it gives
  PyOD's scores bit for bit on a probe, so a scikit-learn release that moves its internals
  falls back to PyOD's own path instead of changing scores.
* For one record the general preparation (a DataFrame, per-column pandas conversion) costs
  several times the scoring. :class:`RecordScorer` builds the prepared matrix straight from
  plain numbers when every input column is numeric, checked against
  ``Preparer.transform`` when it is built; anything else goes through the engine unchanged.

Every entry point (``FittedPipeline.score`` from the CLI and the worker, the API's online
scoring through :class:`RecordScorer`) goes through :func:`decision_functions`.

ECOD and COPOD score new rows *together with their stored training set*: a record's score
depends slightly on the other records scored in the same call (see PITFALLS.md). Send the
records that belong together in one call, or pick another detector for online use.
"""

from __future__ import annotations

import itertools
import logging
import operator
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import DataError

if TYPE_CHECKING:  # pipeline imports this module
    from .pipeline import FittedPipeline, ScoreResult
    from .prepare import Preparer

logger = logging.getLogger(__name__)

# Below this many rows a forest is walked tree by tree here; above it PyOD's own
# decision_function (and the engine's row-block threads) is as fast.
DIRECT_FOREST_MAX_ROWS = 20_000
_PROBE_ROWS = 16

Decision = Callable[[np.ndarray], np.ndarray]


def decision_functions(
    keys: Sequence[str], detectors: Sequence[Any], n_features: int
) -> list[Decision]:
    """Per detector, the fastest decision function that gives PyOD's scores bit for bit.

    Parameters
    ----------
    keys : sequence of str
        Catalogue keys, in the order of ``detectors``.
    detectors : sequence
        Fitted estimators.
    n_features : int
        Width of the prepared matrix (for the probe rows).
    """
    X = np.ascontiguousarray(
        np.random.default_rng(1).normal(size=(_PROBE_ROWS, n_features)), dtype=np.float64
    )
    out: list[Decision] = []
    for key, estimator in zip(keys, detectors, strict=True):
        out.append(_fastest(key, estimator, X))
    return out


def _fastest(key: str, estimator: Any, probe: np.ndarray) -> Decision:
    # PyOD's estimators are untyped: name the type their decision_function has.
    pyod_decision: Decision = estimator.decision_function
    if key != "iforest":
        return pyod_decision
    try:
        direct = DirectForest(estimator)
        same = np.array_equal(direct.decision_function(probe), estimator.decision_function(probe))
    except Exception:  # sklearn internals moved: keep PyOD's path
        same = False
    if not same:
        logger.warning("direct forest scoring disagrees with PyOD here; not used")
        return pyod_decision
    return direct.decision_function


class DirectForest:
    """PyOD ``IForest.decision_function`` without joblib's per-tree dispatch (module note)."""

    def __init__(self, estimator: Any) -> None:
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
        self.offset: float = forest.offset_

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        if len(X) > DIRECT_FOREST_MAX_ROWS:
            pyod_scores: np.ndarray = self.estimator.decision_function(X)
            return pyod_scores
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        depths = np.zeros(len(X32))
        for tree, features, decision_lengths, average_lengths in self.trees:
            leaves = tree.apply(X32 if features is None else np.ascontiguousarray(X32[:, features]))
            depths += decision_lengths[leaves] + average_lengths[leaves] - 1.0
        denominator = self.denominator
        scores: np.ndarray = 2 ** (
            -np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0)
        )
        # sklearn: decision = -scores - offset_; PyOD inverts the sign
        return ((-scores) - self.offset) * -1


# ------------------------------------------------------------------- records


_PLAIN_NUMBERS = frozenset({float, int})


class RecordScorer:
    """Scores lists of records (``{column: value}``) with a fitted pipeline, one call at a time.

    Attributes
    ----------
    fitted : FittedPipeline
    input_columns : list of str
        Columns every record must hold (extra keys are ignored).
    numeric_columns : list of str or None
        Set when every input column is plain numeric and the direct matrix reproduces
        ``Preparer.transform`` (checked here); None sends every record through pandas.
    """

    def __init__(self, fitted: FittedPipeline, input_columns: Sequence[str] | None = None) -> None:
        self.fitted = fitted
        self.input_columns = list(input_columns or fitted.preparer.input_columns)
        self.numeric_columns = _numeric_columns(fitted.preparer)
        # ECOD/COPOD keep per-call state on the estimator: one call at a time.
        self._lock = threading.Lock()

    def score(self, records: list[Any]) -> ScoreResult:
        """A ``ScoreResult`` for ``records``, scored as one batch.

        Raises
        ------
        DataError
            Not a non-empty list of objects, a record without an input column (named), or
            values the preparation refuses.
        """
        if not isinstance(records, list) or not records:
            raise DataError("records must be a non-empty list of objects")
        self.check_records(records)
        X = self.numeric_matrix(records)
        with self._lock:
            # One chunk for the whole call: for ECOD/COPOD the records are one batch.
            if X is not None:
                return self.fitted.score_array(X, chunk_size=len(X))
            frame = self.records_frame(records)
            return self.fitted.score(frame, chunk_size=len(frame))

    def check_records(self, records: list[Any]) -> None:
        """Every record is an object holding every input column (DataError names the first gap)."""
        columns = self.input_columns
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

    def records_frame(self, records: list[Any]) -> pd.DataFrame:
        """A DataFrame of the input columns; extra keys are ignored."""
        self.check_records(records)
        columns = self.input_columns
        return pd.DataFrame({c: [r[c] for r in records] for c in columns}, columns=columns)

    def numeric_matrix(self, records: list[Any]) -> np.ndarray | None:
        """Prepared features built straight from plain numbers, or None to take pandas' path."""
        columns = self.numeric_columns
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
        return self.fitted.preparer.scale_encoded(matrix)

    def warm(self) -> None:
        """Score a few made-up rows so first-call costs (numba JIT, lazy imports) are paid now."""
        fitted = self.fitted
        rng = np.random.default_rng(0)
        X = np.ascontiguousarray(rng.normal(size=(8, len(fitted.feature_names))), dtype=np.float64)
        try:
            with self._lock:
                fitted.score_array(X, chunk_size=len(X))
                fitted.score_array(X[:1], chunk_size=1)
        except Exception:  # a model that cannot score noise may still score real rows
            logger.warning("warm-up of a scoring model failed", exc_info=True)


def _numeric_columns(preparer: Preparer) -> list[str] | None:
    """Plan columns when all are plain numeric and the direct matrix reproduces transform."""
    plan = getattr(preparer, "plan", None)
    if not plan or any(step.get("kind") != "numeric" for step in plan):
        return None
    columns = [step["column"] for step in plan]
    sample = np.random.default_rng(2).normal(size=(16, len(columns))) * 10
    frame = pd.DataFrame(sample, columns=columns)
    try:
        same = np.array_equal(preparer.scale_encoded(sample.copy()), preparer.transform(frame))
    except Exception:
        same = False
    return columns if same else None
