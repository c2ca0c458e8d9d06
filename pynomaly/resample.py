"""The machinery of the vectorised bootstraps in :mod:`pynomaly.stats`.

A bootstrap sample is a vector of counts (how often each row was drawn), so a metric of
the sample is a weighted metric of the original rows: computed for a block of samples at
once with cumulative sums over the rows sorted by score, never sorting per sample.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

# Elements of a (samples × rows) block held at once: bounds the memory of a bootstrap.
BLOCK_ELEMENTS = 2_000_000


def counts(rng: np.random.Generator, k: int, size: int, dtype: Any = np.float64) -> np.ndarray:
    """``size`` bootstrap samples of ``k`` items as counts, shape (size, k)."""
    draws = rng.integers(0, k, size=(size, k))
    draws += (np.arange(size) * k)[:, None]
    return np.bincount(draws.ravel(), minlength=size * k).reshape(size, k).astype(dtype)


def row_blocks(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of row weights (samples × rows) of the plain row bootstrap."""
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_ELEMENTS // n)
    done = 0
    while done < n_boot:
        size = min(block, n_boot - done)
        yield counts(rng, n, size)
        done += size


class Ranking:
    """One score vector sorted once (descending), with its groups of tied scores."""

    def __init__(self, scores: np.ndarray) -> None:
        self.order = np.argsort(-scores, kind="stable")
        ordered = scores[self.order]
        change = np.ones(len(ordered), dtype=bool)
        change[1:] = ordered[1:] != ordered[:-1]
        self.starts = np.flatnonzero(change)
        self.tied = len(self.starts) < len(ordered)

    def group(self, w: np.ndarray) -> np.ndarray:
        """Row weights (samples × rows) summed per tie group, highest score first."""
        ordered = w[:, self.order]
        return np.add.reduceat(ordered, self.starts, axis=1) if self.tied else ordered


def auc_ap(ranking: Ranking, w: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ROC-AUC and average precision per sample (ties count one half for AUC;
    AP as scikit-learn defines it: the step-wise sum over distinct thresholds).

    ``w`` holds row weights (samples × rows), ``y`` which rows are positive.
    """
    ordered = w[:, ranking.order]
    wp = ordered * y[ranking.order]
    if ranking.tied:
        gp = np.add.reduceat(wp, ranking.starts, axis=1)
        seen_in = np.add.reduceat(ordered, ranking.starts, axis=1)
    else:
        gp, seen_in = wp, ordered
    gn = seen_in - gp
    total_p, total_n = gp.sum(axis=1), gn.sum(axis=1)
    fp = np.cumsum(gn, axis=1)
    # A positive beats the negatives of every lower-scored group and ties half its own.
    beaten = total_n[:, None] * total_p - (gp * fp).sum(axis=1)[:, None]
    if ranking.tied:
        beaten += 0.5 * (gp * gn).sum(axis=1)[:, None]
    auc = beaten[:, 0] / (total_p * total_n)
    seen = np.cumsum(seen_in, axis=1)
    tp = seen - fp
    precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
    ap = (gp * precision).sum(axis=1) / total_p
    return auc, ap


def percentile(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def negative_cells(
    y: np.ndarray, vectors: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Negatives grouped into cells that no ranking metric can tell apart.

    ROC-AUC and AP depend on a negative only through where it falls among the positives'
    scores (below, tied with, or between which two), in every result. Negatives that fall
    in the same place in every result are interchangeable, so resampling the negatives is
    a multinomial draw over these cells: exact, and far cheaper when positives are few.

    Returns
    -------
    (representatives, sizes, cell_of)
        One negative row index per cell, the number of negatives in each cell, and each
        negative's cell (in the order of the negatives).
    """
    neg = np.flatnonzero(~y)
    keys = []
    for v in vectors:
        cuts = np.unique(v[y])
        below = np.searchsorted(cuts, v[neg], side="left")
        tied = np.searchsorted(cuts, v[neg], side="right") > below
        keys.append(2 * below + tied)
    _, first, cell_of, sizes = np.unique(
        np.vstack(keys), axis=1, return_index=True, return_inverse=True, return_counts=True
    )
    return neg[first], sizes, cell_of.ravel()


def labelled_bootstrap(
    y: np.ndarray, vectors: Sequence[np.ndarray], n_boot: int, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """ROC-AUC and AP of each result in the same stratified samples: (aucs, aps)."""
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(y)
    reps, sizes, cell_of = negative_cells(y, vectors)
    rows = np.concatenate([pos, reps])
    ry = np.zeros(len(rows), dtype=bool)
    ry[: len(pos)] = True
    rankings = [Ranking(v[rows]) for v in vectors]
    n_neg, n_cells = int(sizes.sum()), len(sizes)
    few_cells = n_cells * 8 < n_neg  # a multinomial over cells beats drawing every negative
    aucs: list[list[np.ndarray]] = [[] for _ in rankings]
    aps: list[list[np.ndarray]] = [[] for _ in rankings]
    block = max(1, BLOCK_ELEMENTS // max(len(rows), n_neg if not few_cells else 0))
    done = 0
    while done < n_boot:
        size = min(block, n_boot - done)
        # Counts stay exact in float32 (below 2**24) and halve the memory traffic.
        w = np.empty((size, len(rows)), dtype=np.float32)
        w[:, : len(pos)] = counts(rng, len(pos), size, np.float32)
        if few_cells:
            w[:, len(pos) :] = rng.multinomial(n_neg, sizes / n_neg, size=size)
        else:
            draws = cell_of[rng.integers(0, n_neg, size=(size, n_neg))]
            draws += (np.arange(size) * n_cells)[:, None]
            w[:, len(pos) :] = np.bincount(draws.ravel(), minlength=size * n_cells).reshape(
                size, n_cells
            )
        for i, ranking in enumerate(rankings):
            auc, ap = auc_ap(ranking, w, ry)
            aucs[i].append(auc)
            aps[i].append(ap)
        done += size
    return [np.concatenate(a) for a in aucs], [np.concatenate(a) for a in aps]


def point(y: np.ndarray, ranking: Ranking) -> tuple[float, float]:
    auc, ap = auc_ap(ranking, np.ones((1, len(y))), y)
    return float(auc[0]), float(ap[0])


def midranks(x: np.ndarray) -> np.ndarray:
    """Midranks (1-based, ties averaged) along the last axis."""
    from scipy.stats import rankdata

    return np.asarray(rankdata(x, axis=-1), dtype=np.float64)


def bootstrap_p(diffs: np.ndarray) -> float:
    """Two-sided p-value of "no difference" from bootstrap differences: twice the smaller
    tail at zero, with the +1 correction, so p < 1 − level exactly when the percentile
    interval of the difference excludes zero (up to the quantile interpolation)."""
    b = len(diffs)
    below = (1 + int((diffs <= 0).sum())) / (b + 1)
    above = (1 + int((diffs >= 0).sum())) / (b + 1)
    return min(1.0, 2 * min(below, above))


def weighted_midranks(ranking: Ranking, w: np.ndarray) -> np.ndarray:
    """Each row's midrank within its bootstrap sample (rows drawn ``w`` times), in row order."""
    g = ranking.group(w)
    before = np.cumsum(g, axis=1) - g
    # Descending order: the highest score gets the largest rank, as in an ascending ranking.
    total = g.sum(axis=1, keepdims=True)
    group_rank = total - before - (g - 1) / 2
    if ranking.tied:
        sizes = np.diff(np.append(ranking.starts, w.shape[1]))
        per_sorted = np.repeat(group_rank, sizes, axis=1)
    else:
        per_sorted = group_rank
    out = np.empty_like(per_sorted)
    out[:, ranking.order] = per_sorted
    return out


def weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1, keepdims=True)
    mx = (w * x).sum(axis=1, keepdims=True) / total
    my = (w * y).sum(axis=1, keepdims=True) / total
    dx, dy = x - mx, y - my
    cov = (w * dx * dy).sum(axis=1)
    var = np.sqrt((w * dx * dx).sum(axis=1) * (w * dy * dy).sum(axis=1))
    r: np.ndarray = np.divide(cov, var, out=np.full_like(cov, np.nan), where=var > 0)
    return r
