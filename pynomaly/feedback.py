"""Analysts' verdicts as labels: the held-out split, metrics on verdicts, a threshold learned from them.

A verdict says of one row of a dataset version: anomaly (1) or normal (0); *unsure* is no
label. Retraining with feedback trains on part of the verdicts and keeps the rest back to
compare the new run with the one it came from; which rows are kept back is decided by a hash
of the row id (salted with the dataset version's content hash), so it never changes between
retrains, never depends on the order verdicts were made in, and the worker can tell without
asking anyone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .evaluate import evaluate, label_metrics

# Share of the verdicts kept back from training: enough to compare two runs on, few enough
# that most of an analyst's work trains the detector.
HOLDOUT_FRACTION = 0.3


def held_out(rows: Iterable[int], salt: str, fraction: float = HOLDOUT_FRACTION) -> np.ndarray:
    """Which ``rows`` are kept back from training (a boolean per row, in order).

    Parameters
    ----------
    rows : iterable of int
        Row ids (positions in the dataset version).
    salt : str
        The dataset version's content hash: the same rows are held out in every retrain.
    fraction : float
        Expected share held out, in [0, 1].

    Returns
    -------
    numpy.ndarray of bool
        True where sha256(f"{salt}:{row}"), read as a number in [0, 1), is below ``fraction``.
    """
    out = []
    for row in rows:
        digest = hashlib.sha256(f"{salt}:{int(row)}".encode()).digest()
        out.append(int.from_bytes(digest[:8], "big") / 2**64 < fraction)
    return np.array(out, dtype=bool)


def split(
    labels: Mapping[int, int], salt: str, fraction: float = HOLDOUT_FRACTION
) -> tuple[dict[int, int], dict[int, int]]:
    """``labels`` (row → 0/1) as (training part, held-out part)."""
    rows = list(labels)
    mask = held_out(rows, salt, fraction)
    train = {r: labels[r] for r, h in zip(rows, mask, strict=True) if not h}
    held = {r: labels[r] for r, h in zip(rows, mask, strict=True) if h}
    return train, held


def _aligned(
    labels: Mapping[int, int], row_ids: ArrayLike, scores: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """(y, scores) of the labelled rows that the results hold, ordered by row id."""
    ids = np.asarray(row_ids, dtype=np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if not labels or not len(ids):
        return np.zeros(0, dtype=int), np.zeros(0)
    wanted = np.array(sorted(labels), dtype=np.int64)
    y = np.array([int(labels[int(r)]) for r in wanted], dtype=int)
    order = np.argsort(ids, kind="stable")
    at = np.minimum(np.searchsorted(ids[order], wanted), len(ids) - 1)
    ok = ids[order][at] == wanted
    return y[ok], s[order[at[ok]]]


def verdict_metrics(
    labels: Mapping[int, int], row_ids: ArrayLike, scores: ArrayLike, threshold: float | None
) -> dict[str, Any]:
    """Metrics of one run's scores against the verdicts (row → 1 anomaly / 0 normal).

    Returns
    -------
    dict
        ``rows`` (verdicts on rows of these results), ``anomalies``, ``normals`` and, when
        there is at least one verdict, the metrics of :func:`pynomaly.evaluate.evaluate`
        (ROC-AUC and average precision need both kinds; otherwise None with a ``note``).
    """
    y, s = _aligned(labels, row_ids, scores)
    out: dict[str, Any] = {"rows": int(len(y)), "anomalies": int(y.sum())}
    out["normals"] = out["rows"] - out["anomalies"]
    if not len(y):
        return out
    flagged = s > threshold if threshold is not None else np.zeros(len(s), dtype=bool)
    out.update(evaluate(y, s, flagged.astype(int)))
    return out


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold that maximises F1 on the verdicts (rows flagged when score > threshold)."""

    threshold: float
    f1: float
    precision: float
    recall: float
    rows: int


def best_f1_threshold(
    labels: Mapping[int, int], row_ids: ArrayLike, scores: ArrayLike
) -> ThresholdChoice | None:
    """The threshold with the highest F1 on the verdicts; None without a verdicted anomaly.

    Candidates lie halfway between consecutive distinct scores of verdicted rows (and just
    below the lowest), so the choice does not sit on a row's exact score. Ties go to the
    higher threshold: fewer rows flagged for the same F1.
    """
    y, s = _aligned(labels, row_ids, scores)
    finite = np.isfinite(s)
    y, s = y[finite], s[finite]
    if not len(y) or not y.any():
        return None
    distinct = np.unique(s)
    below = distinct[0] - max(1e-9, abs(distinct[0]) * 1e-9)
    candidates = np.concatenate([[below], (distinct[:-1] + distinct[1:]) / 2])
    best: ThresholdChoice | None = None
    for t in candidates[::-1]:  # highest first: a later tie does not replace it
        m = label_metrics(y == 1, s > t)
        if best is None or m["f1"] > best.f1 + 1e-12:
            best = ThresholdChoice(float(t), m["f1"], m["precision"], m["recall"], int(len(y)))
    return best


def compare_on_held_out(
    labels: Mapping[int, int],
    child: tuple[ArrayLike, ArrayLike, float | None],
    parent: tuple[ArrayLike, ArrayLike, float | None],
    names: tuple[str, str] = ("the parent", "the retrain"),
    *,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """A retrained run against its parent on the held-out verdicts, with intervals and tests.

    Parameters
    ----------
    labels : mapping row → 0/1
        The held-out verdicts.
    child, parent : (row_ids, scores, threshold)
        Each run's results and saved threshold.
    names : (parent's name, child's name)
        How the sentence names them.
    n_boot : int
        Bootstrap samples of :func:`pynomaly.stats.compare_runs`.

    Returns
    -------
    dict
        ``rows``, ``anomalies``; ``child`` and ``parent`` — roc_auc, average_precision and
        their 95 % bootstrap intervals (``roc_auc_ci``, ``average_precision_ci`` as
        [low, high]); ``delta`` (child − parent) with ``p_value`` per metric (DeLong for
        ROC-AUC, paired bootstrap for AP) and ``delta_ci``; ``sentence``. ``note`` instead
        when the held-out verdicts lack a kind. Only rows both runs scored count.
    """
    from . import stats

    common = set(np.asarray(child[0]).tolist()) & set(np.asarray(parent[0]).tolist())
    shared = {r: v for r, v in labels.items() if r in common}
    yc, sc = _aligned(shared, child[0], child[1])
    _, sp = _aligned(shared, parent[0], parent[1])
    out: dict[str, Any] = {"rows": int(len(yc)), "anomalies": int(yc.sum())}
    empty = {"roc_auc": None, "average_precision": None}
    if not len(yc) or yc.all() or not yc.any():
        out["note"] = (
            "the held-out verdicts need at least one anomaly and one normal row to compare runs"
        )
        out["child"], out["parent"], out["delta"] = dict(empty), dict(empty), dict(empty)
        return out
    big = np.finfo(float).max  # an unscored row (NaN) ranks lowest

    def finite(s: np.ndarray) -> np.ndarray:
        clean: np.ndarray = np.nan_to_num(s, nan=-big, posinf=big, neginf=-big)
        return clean

    sc, sp = finite(sc), finite(sp)
    flags_c = sc > child[2] if child[2] is not None else np.zeros(len(sc), dtype=bool)
    flags_p = sp > parent[2] if parent[2] is not None else np.zeros(len(sp), dtype=bool)
    result = stats.compare_runs(yc, sp, sc, flags_p, flags_c, names, n_boot=n_boot)
    auc, ap = result["roc_auc"], result["average_precision"]

    def side(key: str) -> dict[str, Any]:
        return {
            "roc_auc": auc[key]["value"],
            "roc_auc_ci": [auc[key]["low"], auc[key]["high"]],
            "average_precision": ap[key]["value"],
            "average_precision_ci": [ap[key]["low"], ap[key]["high"]],
        }

    out["parent"], out["child"] = side("a"), side("b")
    out["delta"] = {
        "roc_auc": auc["b"]["value"] - auc["a"]["value"],
        "average_precision": ap["b"]["value"] - ap["a"]["value"],
    }
    out["p_value"] = {"roc_auc": auc["test"]["p_value"], "average_precision": ap["test"]["p_value"]}
    out["p_text"] = {"roc_auc": auc["test"]["p_text"], "average_precision": ap["test"]["p_text"]}
    out["delta_ci"] = {
        "roc_auc": [auc["test"]["low"], auc["test"]["high"]],
        "average_precision": [ap["test"]["low"], ap["test"]["high"]],
    }
    out["sentence"] = result["sentence"]
    out["sentences"] = result["sentences"][:2]
    return out


def labels_array(
    labels: Mapping[int, int], n_rows: int, base: ArrayLike | None = None
) -> np.ndarray:
    """Verdicts as a partial label column: one float per row, 1 / 0 where known, NaN elsewhere.

    ``base`` (a partial label column of the data, same encoding) is kept where no verdict
    speaks; a verdict overrides it — the analyst looked at that row.
    """
    out = (
        np.full(n_rows, np.nan)
        if base is None
        else np.asarray(base, dtype=np.float64).ravel().copy()
    )
    if len(out) != n_rows:
        raise ValueError("base must have one value per row")
    for row, value in labels.items():
        if 0 <= int(row) < n_rows:
            out[int(row)] = float(value)
    return out
