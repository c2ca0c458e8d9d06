"""Say what a threshold means, and when it is likely to mislead.

The automatic threshold (:data:`pynomaly.scores.AUTO_THRESHOLDER`) cuts where the scores
look unusual, whatever share of rows that is: ECOD with "Automatic" flagged 13 % of the rows
of a table with 1 % anomalies, and nothing said so. :func:`check` states the share of rows
the threshold flags, compares it with an estimate of the anomaly share drawn from the score
distribution (rows beyond a robust outer fence of the scores: median + 3.5 scaled MADs),
warns when they are far apart, and - with training labels - suggests the cut that
maximises F1 on the labelled rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FENCE_MADS = 3.5
# Warn when the flagged share is more than FAR_RATIO times the estimate (or less than
# 1/FAR_RATIO of it) and differs from it by at least FAR_POINTS.
FAR_RATIO = 2.5
FAR_POINTS = 0.01
MIN_SHARE, MAX_SHARE = 0.001, 0.5


def estimate_contamination(scores: np.ndarray) -> float:
    """Share of rows beyond a robust fence of the scores, within [0.1 %, 50 %]."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    if scores.size < 2:
        return MIN_SHARE
    median = float(np.median(scores))
    mad = float(np.median(np.abs(scores - median))) * 1.4826
    if mad <= 0:
        spread = float(scores.std())
        if spread <= 0:
            return MIN_SHARE
        mad = spread
    share = float(np.mean(scores > median + FENCE_MADS * mad))
    return float(np.clip(share, MIN_SHARE, MAX_SHARE))


def best_f1_cut(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any] | None:
    """The cut maximising F1 on rows labelled 1/0 (NaN ignored); None without both kinds."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    known = np.isfinite(labels)
    y, s = labels[known], scores[known]
    positives = int((y == 1).sum())
    if positives == 0 or positives == len(y):
        return None
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], (y[order] == 1)
    tp = np.cumsum(y_sorted)
    flagged = np.arange(1, len(y) + 1)
    # only cut between distinct scores: rows with equal scores are flagged together
    last_of_tie = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    precision, recall = tp / flagged, tp / positives
    f1 = np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    f1 = np.where(last_of_tie, f1, -1.0)
    best = int(np.argmax(f1))
    below = (
        s_sorted[best + 1] if best + 1 < len(s_sorted) else np.nextafter(s_sorted[best], -np.inf)
    )
    cut = float((s_sorted[best] + below) / 2) if below < s_sorted[best] else float(below)
    return {
        "threshold": cut,
        "f1": float(f1[best]),
        "precision": float(precision[best]),
        "recall": float(recall[best]),
        "flagged_share": float(np.mean(scores > cut)),
    }


def check(
    scores: np.ndarray,
    threshold: float,
    *,
    kind: str,
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """What the threshold implies, and a warning when it looks wrong.

    Returns ``{"flagged_share", "expected_share", "kind", "warning" (str or None),
    "suggested" (best-F1 cut on the labelled rows, or None)}``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    flagged = float(np.mean(scores > threshold)) if scores.size else 0.0
    expected = estimate_contamination(scores)
    far = abs(flagged - expected) >= FAR_POINTS and (
        flagged > FAR_RATIO * expected or flagged < expected / FAR_RATIO
    )
    warning = None
    if far:
        how = "automatic threshold" if kind == "auto" else "threshold"
        warning = (
            f"The {how} flags {flagged:.1%} of the rows, but the scores suggest about "
            f"{expected:.1%} are anomalies: "
            + (
                "many flags may be normal rows."
                if flagged > expected
                else "anomalies may be missed."
            )
            + f" Consider a contamination threshold of {expected:.1%}."
        )
    suggested = best_f1_cut(scores, labels) if labels is not None else None
    if suggested is not None:
        suggested["flagged_text"] = f"{suggested['flagged_share']:.1%}"
    return {
        "kind": kind,
        "flagged_share": flagged,
        "expected_share": expected,
        "flagged_text": f"{flagged:.1%}",
        "expected_text": f"{expected:.1%}",
        "warning": warning,
        "suggested": suggested,
    }
