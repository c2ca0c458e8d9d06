"""Why a row was flagged: per-row feature attributions that come from the fitted model.

Attributions say how much each prepared feature pushed a row's score up (positive) or
down (negative), in the units of the score that was explained. Which method produces
them depends on the pipeline (:func:`method_for`):

``tree_shap``
    A single isolation forest: SHAP's TreeExplainer on the fitted scikit-learn forest
    (``IForest.detector_``), exact and fast. It explains the forest's mean path length;
    we negate it, so the explained output is "minus the average depth" — higher = more
    anomalous, like the platform's scores (PyOD's score is a monotone function of it).
``native``
    ECOD and COPOD: the score *is* a sum of per-feature tail scores (PyOD keeps them in
    ``O``), so each feature's term is its exact contribution and the terms add up to the
    score.
``sampling_shap``
    Every other detector and every ensemble: SHAP's SamplingExplainer (Shapley sampling
    values, Štrumbelj & Kononenko) on the pipeline's score function — the detector's
    ``decision_function``, or for an ensemble the combined, standardised score — with a
    small background sample of training rows. We measured the model-agnostic explainers on
    KNN (10k × 10 training rows, 20 planted rows): SamplingExplainer 0.38 s, KernelExplainer
    2.5 s, PermutationExplainer 7.2 s, each naming the planted feature for all 20 rows;
    the faithfulness test (``tests/engine/test_explain_faithfulness.py``) holds the bar.

Attributions are computed for a few rows only (the flagged ones, highest scores first, up
to a cap), because model-agnostic SHAP scores each row hundreds of times.

ECOD and COPOD rank new rows together with their training rows (PITFALLS.md): inside an
ensemble's score function they are called on batches small next to the training set, so
the perturbed rows SHAP sends barely move the ranks they are scored against.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from .errors import Cancelled, EngineError

if TYPE_CHECKING:
    from .pipeline import FittedPipeline

Progress = Callable[[str, int, int], None]
ShouldStop = Callable[[], bool]

STAGE = "explaining"
DEFAULT_MAX_ROWS = 100
BACKGROUND_ROWS = 50
# Shapley sampling: evaluations per feature per row (each costs two model calls of one row).
SAMPLES_PER_FEATURE = 24
_NATIVE = frozenset({"ecod", "copod"})
_BATCH_RANKED = frozenset({"ecod", "copod"})
_RESEED = frozenset({"lscp"})

METHOD_LABELS = {
    "tree_shap": "Tree SHAP on the isolation forest",
    "native": "the detector's own per-feature scores",
    "sampling_shap": "SHAP (Shapley sampling values) on the score function",
}
METHOD_UNITS = {
    "tree_shap": "minus the forest's average path length (higher = more anomalous)",
    "native": "the anomaly score, a sum of per-feature tail scores",
    "sampling_shap": "the anomaly score",
}

# Columns of the explanations table (one row per explained row).
ROW_ID, SCORE, BASE, OUTPUT = "row_id", "score", "base_value", "output"
ATTR = "attr:"
META_METHOD = b"pynomaly.explain.method"


class ExplainError(EngineError):
    """The pipeline could not be explained (the run keeps its scores)."""


@dataclass(frozen=True)
class Explanation:
    """Attributions of some rows of a result.

    Attributes
    ----------
    method : str
        ``tree_shap``, ``native`` or ``sampling_shap`` (see the module note).
    feature_names : list of str
        Prepared features, in the order of ``values``' columns.
    row_ids : ndarray of int
        Positions of the explained rows in the scored data.
    scores : ndarray
        The rows' scores as the run recorded them.
    values : ndarray, shape (rows, features)
        Attributions: positive pushes the row towards anomalous.
    base_value : float
        The explained output of an "average" row (background mean; 0 for ``native``).
    outputs : ndarray
        The explained output per row; ``base_value + values.sum(1)`` equals it.
    seconds : float
    """

    method: str
    feature_names: list[str]
    row_ids: np.ndarray
    scores: np.ndarray
    values: np.ndarray
    base_value: float
    outputs: np.ndarray
    seconds: float = 0.0
    background_rows: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def method_label(self) -> str:
        return METHOD_LABELS.get(self.method, self.method)

    @property
    def units(self) -> str:
        return METHOD_UNITS.get(self.method, "")

    def __len__(self) -> int:
        return len(self.row_ids)

    def importance(self) -> dict[str, float]:
        """Mean |attribution| per feature over the explained rows, largest first."""
        if not len(self):
            return {}
        mean = np.abs(self.values).mean(axis=0)
        order = np.argsort(-mean, kind="stable")
        return {self.feature_names[j]: float(mean[j]) for j in order}

    def top(self, n: int = 3) -> list[list[dict[str, Any]]]:
        """Per row, the ``n`` features that pushed it most towards anomalous."""
        return top_attributions(self.values, self.feature_names, n)

    def row(self, row_id: int) -> dict[str, Any] | None:
        """One row's attributions (every feature, largest |value| first), or None."""
        hits = np.flatnonzero(self.row_ids == row_id)
        if not len(hits):
            return None
        i = int(hits[0])
        return row_attributions(
            self.values[i], self.feature_names, self.base_value, float(self.outputs[i])
        )

    def summary(self, top_n: int = 20) -> dict[str, Any]:
        """JSON-able summary for the run: method, rows, seconds and the global importance."""
        importance = self.importance()
        return {
            "method": self.method,
            "method_label": self.method_label,
            "units": self.units,
            "rows": len(self),
            "seconds": round(self.seconds, 3),
            "background_rows": self.background_rows,
            "importance": [{"feature": k, "value": v} for k, v in list(importance.items())[:top_n]],
            "notes": list(self.notes),
        }

    # -- the explanations file --------------------------------------------------------
    def table(self) -> pa.Table:
        columns: dict[str, Any] = {
            ROW_ID: pa.array(np.asarray(self.row_ids, dtype=np.int64)),
            SCORE: pa.array(np.asarray(self.scores, dtype=np.float64)),
            OUTPUT: pa.array(np.asarray(self.outputs, dtype=np.float64)),
            BASE: pa.array(np.full(len(self), self.base_value, dtype=np.float64)),
        }
        for j, name in enumerate(self.feature_names):
            columns[ATTR + name] = pa.array(np.asarray(self.values[:, j], dtype=np.float64))
        t = pa.table(columns)
        return t.replace_schema_metadata({META_METHOD: self.method.encode()})

    @classmethod
    def from_table(cls, t: pa.Table) -> Explanation:
        meta = t.schema.metadata or {}
        names = [c[len(ATTR) :] for c in t.column_names if c.startswith(ATTR)]
        n = t.num_rows
        values = (
            np.column_stack([t.column(ATTR + c).to_numpy() for c in names])
            if names
            else np.zeros((n, 0))
        )
        base = t.column(BASE).to_numpy()
        return cls(
            method=meta.get(META_METHOD, b"").decode() or "unknown",
            feature_names=names,
            row_ids=t.column(ROW_ID).to_numpy(),
            scores=t.column(SCORE).to_numpy(),
            values=values.astype(np.float64),
            base_value=float(base[0]) if n else 0.0,
            outputs=t.column(OUTPUT).to_numpy(),
        )


def write(explanation: Explanation, sink: Any) -> None:
    """Write the explanations table as Parquet to a path or binary file."""
    import pyarrow.parquet as pq

    pq.write_table(explanation.table(), sink, compression="zstd")


def read(source: Any) -> Explanation:
    """Read an explanations table written by :func:`write`."""
    import pyarrow.parquet as pq

    return Explanation.from_table(pq.read_table(source))


def top_attributions(
    values: np.ndarray, names: Sequence[str], n: int = 3
) -> list[list[dict[str, Any]]]:
    """Per row, the ``n`` features with the largest positive attribution (pushing up)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(-np.nan_to_num(values, nan=-np.inf), axis=1, kind="stable")[:, :n]
    return [
        [
            {"feature": names[j], "value": float(values[i, j])}
            for j in order[i]
            if np.isfinite(values[i, j]) and values[i, j] > 0
        ]
        for i in range(len(values))
    ]


def row_attributions(
    values: np.ndarray, names: Sequence[str], base_value: float, output: float
) -> dict[str, Any]:
    """A row's attributions, largest |value| first, with the base and the output."""
    order = np.argsort(-np.abs(values), kind="stable")
    return {
        "base_value": float(base_value),
        "output": float(output),
        "attributions": [{"feature": names[j], "value": float(values[j])} for j in order],
    }


# ---------------------------------------------------------------- choosing the rows
def rows_to_explain(
    scores: np.ndarray, labels: np.ndarray, max_rows: int = DEFAULT_MAX_ROWS
) -> np.ndarray:
    """Positions of the flagged rows, highest score first, at most ``max_rows``.

    With no row flagged, the highest-scoring rows (at most 10) instead, so a run always
    says what drives its top scores.
    """
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    max_rows = max(0, int(max_rows))
    flagged = np.flatnonzero(np.asarray(labels).astype(bool))
    pool = flagged if len(flagged) else np.arange(len(scores))
    limit = max_rows if len(flagged) else min(max_rows, 10)
    if limit == 0 or not len(pool):
        return np.arange(0)
    order = np.lexsort((pool, -scores[pool]))
    return pool[order[:limit]]


# ---------------------------------------------------------------- methods
def method_for(fitted: FittedPipeline) -> str:
    """Which method explains ``fitted`` (see the module note)."""
    keys = fitted.keys
    if len(keys) == 1 and keys[0] == "iforest" and hasattr(fitted.detectors_[0], "detector_"):
        return "tree_shap"
    if len(keys) == 1 and keys[0] in _NATIVE:
        return "native"
    return "sampling_shap"


def score_function(fitted: FittedPipeline) -> Callable[[np.ndarray], np.ndarray]:
    """The pipeline's combined score of prepared rows, safe to call on perturbed batches."""
    from .pipeline import _decision, _drop_caches

    decisions = fitted.decision_functions()
    batch = max(64, fitted.n_train // 10)

    def f(X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)
        raw = np.empty((len(X), len(fitted.detectors_)))
        for j, (key, estimator) in enumerate(zip(fitted.keys, fitted.detectors_, strict=True)):
            step = batch if key in _BATCH_RANKED else max(1, len(X))
            for start in range(0, len(X), step):
                if key in _RESEED:
                    estimator.random_state = np.random.RandomState(fitted.config.seed)
                raw[start : start + step, j] = _decision(key, decisions[j], X[start : start + step])
                _drop_caches(estimator)
        out: np.ndarray = np.nan_to_num(
            fitted._combine(raw), nan=0.0, posinf=np.finfo(np.float64).max / 1e6
        )
        return out

    return f


def explain(
    fitted: FittedPipeline,
    X: np.ndarray,
    *,
    row_ids: np.ndarray,
    scores: np.ndarray,
    background: np.ndarray,
    method: str | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    seed: int | None = None,
    contributions: np.ndarray | None = None,
    max_seconds: float | None = None,
) -> Explanation:
    """Attributions of the prepared rows ``X`` under ``fitted``.

    Parameters
    ----------
    fitted : FittedPipeline
    X : ndarray, shape (rows, features)
        The rows to explain, prepared (``fitted.preparer.transform``).
    row_ids, scores : ndarray
        Their positions in the scored data and their recorded scores.
    background : ndarray
        Prepared training rows (a few dozen) standing for "a normal row".
    method : str, optional
        Force a method; by default :func:`method_for`.
    progress : callable(stage, done, total), optional
        Called with ``"explaining"`` after every row (tree / native: once).
    should_stop : callable() -> bool, optional
        Checked between rows; raises :class:`~pynomaly.errors.Cancelled`.
    contributions : ndarray, optional
        For ``native``: the rows' per-feature scores recorded while scoring
        (``ScoreResult.contributions``); without them the rows are scored again.
    max_seconds : float, optional
        Time budget of the model-agnostic method: the rows explained when it runs out are
        kept (highest scores first) and a note says how many.

    Raises
    ------
    ExplainError, Cancelled
    """
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    if X.ndim != 2 or X.shape[1] != len(fitted.feature_names):
        raise ExplainError(f"expected {len(fitted.feature_names)} prepared features")
    method = method or method_for(fitted)
    seed = fitted.config.seed if seed is None else seed
    started = time.perf_counter()
    total = len(X)
    notes: list[str] = []
    if progress is not None:
        progress(STAGE, 0, total)
    if total == 0:
        values, base, outputs, bg_rows = np.zeros((0, X.shape[1])), 0.0, np.zeros(0), 0
    elif method == "tree_shap":
        values, base, outputs = _tree_shap(fitted, X)
        bg_rows = 0
    elif method == "native" and contributions is not None:
        # The per-feature terms recorded while scoring: they add up to the recorded scores
        # (scoring these rows again would rank them against another batch).
        values = np.asarray(contributions, dtype=np.float64)
        base, outputs, bg_rows = 0.0, values.sum(axis=1), 0
    elif method == "native":
        values, base, outputs = _native(fitted, X)
        bg_rows = 0
    elif method == "sampling_shap":
        values, base, outputs = _sampling_shap(
            fitted, X, background, seed=seed, progress=progress, should_stop=should_stop,
            deadline=None if max_seconds is None else started + max_seconds,
        )  # fmt: skip
        bg_rows = len(background)
        if len(values) < total:
            notes.append(
                f"time budget of {max_seconds:g} s reached: {len(values)} of {total} rows explained"
            )
            row_ids, scores = np.asarray(row_ids)[: len(values)], np.asarray(scores)[: len(values)]
    else:
        raise ExplainError(f"unknown explanation method {method!r}")
    if progress is not None:
        progress(STAGE, total, total)
    if not np.isfinite(values).all():
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return Explanation(
        method=method,
        feature_names=list(fitted.feature_names),
        row_ids=np.asarray(row_ids, dtype=np.int64),
        scores=np.asarray(scores, dtype=np.float64),
        values=values,
        base_value=float(base),
        outputs=np.asarray(outputs, dtype=np.float64),
        seconds=time.perf_counter() - started,
        background_rows=bg_rows,
        notes=notes,
    )


def _tree_shap(fitted: FittedPipeline, X: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    import shap

    forest = fitted.detectors_[0].detector_
    try:
        explainer = shap.TreeExplainer(forest)
        sv = np.asarray(explainer.shap_values(X, check_additivity=False), dtype=np.float64)
    except Exception as exc:  # shap raises anything on models it cannot read
        raise ExplainError(f"Tree SHAP failed: {exc}") from exc
    expected = float(np.ravel(explainer.expected_value)[0])
    values = -sv
    base = -expected
    return values, base, base + values.sum(axis=1)


def _native(fitted: FittedPipeline, X: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    from .pipeline import _drop_caches

    estimator = fitted.detectors_[0]
    # One call for the (few) explained rows: they are ranked with the training rows, as in scoring.
    outputs = np.asarray(estimator.decision_function(X), dtype=np.float64)
    values = np.array(estimator.O[-len(X) :], dtype=np.float64)
    _drop_caches(estimator)
    return values, 0.0, outputs


def _sampling_shap(
    fitted: FittedPipeline,
    X: np.ndarray,
    background: np.ndarray,
    *,
    seed: int,
    progress: Progress | None,
    should_stop: ShouldStop | None,
    deadline: float | None = None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Rows in order; stops early at ``deadline`` (perf_counter) and returns the rows done."""
    import shap

    f = score_function(fitted)
    background = np.ascontiguousarray(background, dtype=np.float64)
    if len(background) == 0:
        raise ExplainError("no background rows to explain against")
    n_features = X.shape[1]
    values = np.zeros_like(X)
    done = len(X)
    outputs = np.zeros(len(X))
    # SamplingExplainer draws with numpy's global generator: seed it for reproducible
    # attributions, and restore it so we do not disturb anyone else's draws.
    state = np.random.get_state()
    try:
        np.random.seed(seed % (2**32))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            explainer = shap.SamplingExplainer(f, background)
            base = float(np.ravel(explainer.expected_value)[0])
            nsamples = max(2 * n_features + 2, SAMPLES_PER_FEATURE * n_features)
            for i in range(len(X)):
                if should_stop is not None and should_stop():
                    raise Cancelled("stopped on request")
                if deadline is not None and i > 0 and time.perf_counter() > deadline:
                    done = i
                    break
                row = X[i : i + 1]
                sv = explainer.shap_values(
                    row,
                    nsamples=nsamples,
                    min_samples_per_feature=SAMPLES_PER_FEATURE,
                    silent=True,
                )
                values[i] = np.asarray(sv, dtype=np.float64).reshape(-1)[:n_features]
                outputs[i] = base + values[i].sum()
                if progress is not None:
                    progress(STAGE, i + 1, len(X))
    except (Cancelled, EngineError):
        raise
    except Exception as exc:  # the detectors and shap raise anything
        raise ExplainError(f"SHAP failed: {exc}") from exc
    finally:
        np.random.set_state(state)
    return values[:done], base, outputs[:done]


def explain_result(
    fitted: FittedPipeline,
    df: Any,
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    contributions: np.ndarray | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_seconds: float | None = None,
    background_rows: int = BACKGROUND_ROWS,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> Explanation:
    """Explain the flagged rows of a result (highest first, at most ``max_rows``).

    ``df`` is the scored table (a DataFrame); ``scores``, ``labels`` and ``contributions``
    (ECOD/COPOD's per-feature scores, or None) are the result's.
    The background is a seeded sample of ``df``'s rows, prepared like the scored ones.
    """
    positions = rows_to_explain(scores, labels, max_rows)
    if progress is not None:
        progress(STAGE, 0, max(1, len(positions)))
    X = fitted.preparer.transform(df.iloc[positions]) if len(positions) else None
    n = len(df)
    rng = np.random.default_rng(fitted.config.seed)
    sample = np.sort(rng.choice(n, size=min(n, background_rows), replace=False))
    background = fitted.preparer.transform(df.iloc[sample])
    if X is None:
        X = np.zeros((0, len(fitted.feature_names)))
    return explain(
        fitted,
        X,
        row_ids=positions,
        scores=np.asarray(scores)[positions],
        background=background,
        progress=progress,
        should_stop=should_stop,
        contributions=None if contributions is None else np.asarray(contributions)[positions],
        max_seconds=max_seconds,
    )


def background_sample(
    X_train: np.ndarray, size: int = BACKGROUND_ROWS, seed: int = 0
) -> np.ndarray:
    """A seeded sample of ``size`` prepared training rows."""
    n = len(X_train)
    if n <= size:
        return np.asarray(X_train, dtype=np.float64)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    return np.asarray(X_train[rows], dtype=np.float64)
