"""Measure detection results against known labels, and compare two results."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

# What :func:`evaluate` returns, in the order a report lists it, with the names people read.
METRIC_NAMES = (
    ("roc_auc", "ROC-AUC"),
    ("average_precision", "Average precision"),
    ("precision_at_k", "Precision@k"),
    ("f1", "F1"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("tp", "True positives"),
    ("fp", "False positives"),
    ("tn", "True negatives"),
    ("fn", "False negatives"),
)


def evaluate(
    y_true: ArrayLike, scores: ArrayLike, labels: ArrayLike, *, k: int | None = None
) -> dict[str, Any]:
    """Ranking and labelling quality against ground truth (1 = anomaly).

    Parameters
    ----------
    y_true : array-like of 0/1
    scores : array-like of float
        Higher = more anomalous.
    labels : array-like of 0/1
        The pipeline's flags.
    k : int, optional
        Rows counted for precision@k; defaults to the number of true anomalies.

    Returns
    -------
    dict
        roc_auc, average_precision (None, with ``note``, when ``y_true`` has one
        class), precision_at_k, k, f1, precision, recall, tp, fp, tn, fn.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y_true).astype(int).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    flagged = np.asarray(labels).astype(int).ravel()
    if not len(y) == len(s) == len(flagged):
        raise ValueError("y_true, scores and labels must have the same length")
    positives = int(y.sum())
    result: dict[str, Any] = {}
    if 0 < positives < len(y):
        result["roc_auc"] = float(roc_auc_score(y, s))
        result["average_precision"] = float(average_precision_score(y, s))
    else:
        result["roc_auc"] = None
        result["average_precision"] = None
        kind = "anomalies" if positives else "normal rows"
        result["note"] = f"the labels hold only {kind}: ranking scores are undefined"
    k = positives if k is None else int(k)
    k = max(0, min(k, len(s)))
    if k:
        top = np.argsort(-s, kind="stable")[:k]
        result["precision_at_k"] = float(y[top].mean())
    else:
        result["precision_at_k"] = None
    result["k"] = k
    result.update(label_metrics(y == 1, flagged == 1))
    return result


def label_metrics(truth: ArrayLike, flagged: ArrayLike) -> dict[str, int | float]:
    """The metrics that depend on the threshold: the confusion matrix, precision, recall, F1.

    ROC-AUC, average precision and precision@k rank the scores, so a new threshold
    leaves them as they are; these are the ones to recompute.

    Parameters
    ----------
    truth : array-like of bool
        True for the rows known to be anomalies.
    flagged : array-like of bool
        True for the rows the threshold flags.

    Returns
    -------
    dict
        f1, precision, recall, tp, fp, tn, fn (0.0 where a ratio is undefined).
    """
    t = np.asarray(truth).astype(bool).ravel()
    f = np.asarray(flagged).astype(bool).ravel()
    if len(t) != len(f):
        raise ValueError("truth and flagged must have the same length")
    tp = int((f & t).sum())
    fp = int((f & ~t).sum())
    tn = int((~f & ~t).sum())
    fn = int((~f & t).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def compare(
    scores_a: ArrayLike, labels_a: ArrayLike, scores_b: ArrayLike, labels_b: ArrayLike
) -> dict[str, Any]:
    """How far two results on the same rows agree.

    Returns
    -------
    dict
        spearman (rank correlation of the scores; None when either is constant),
        flagged_a, flagged_b, flagged_both, jaccard (overlap of flagged rows; 1.0
        when neither flags anything).
    """
    from scipy.stats import spearmanr

    a = np.asarray(scores_a, dtype=np.float64).ravel()
    b = np.asarray(scores_b, dtype=np.float64).ravel()
    la = np.asarray(labels_a).astype(bool).ravel()
    lb = np.asarray(labels_b).astype(bool).ravel()
    if not len(a) == len(b) == len(la) == len(lb):
        raise ValueError("both results must cover the same rows")
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        rho = None
    else:
        rho = float(spearmanr(a, b).statistic)
    both = int((la & lb).sum())
    either = int((la | lb).sum())
    return {
        "spearman": rho,
        "flagged_a": int(la.sum()),
        "flagged_b": int(lb.sum()),
        "flagged_both": both,
        "jaccard": both / either if either else 1.0,
    }
