"""Meta-features of a prepared table: the numbers automatic selection compares datasets by.

Computed on the *prepared* matrix (what the detectors see) and on a bounded, seeded sample
of its rows, so they cost milliseconds on a million rows. The same function produces the
committed table (``bench/automl_table.py``) and the features of a new dataset, so the two
are comparable by construction.
"""

from __future__ import annotations

import math

import numpy as np

SAMPLE_ROWS = 4_000
NEIGHBOUR_ROWS = 1_000
# Correlations and the spectrum of very wide tables on a seeded subset of their columns:
# an eigen-decomposition of 1,555 columns took 18 s on a loaded machine, of 200 well under 1 s.
SPECTRUM_FEATURES = 200

# Order matters: it is the order of the vectors in pynomaly/automl_table.json.
NAMES = (
    "log_rows",  # log10 of the number of rows
    "log_features",  # log10 of the number of prepared features
    "discrete_share",  # share of features with at most 10 distinct values
    "duplicate_share",  # share of sampled rows that repeat an earlier row
    "skew",  # mean |skewness| of the features (clipped at 10)
    "kurtosis",  # mean log(1 + |excess kurtosis|)
    "correlation",  # mean |correlation| between feature pairs
    "pc1_share",  # share of variance on the first principal component
    "pc90_share",  # components needed for 90 % of the variance / features
    "tail_share",  # share of values beyond 3 robust deviations from the median
    "local_ratio",  # nearest-neighbour distance / median pairwise distance
)


def _sample(X: np.ndarray, rows: int, seed: int) -> np.ndarray:
    if len(X) <= rows:
        return X
    rng = np.random.default_rng(seed)
    return X[np.sort(rng.choice(len(X), size=rows, replace=False))]


def meta_features(X: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """The :data:`NAMES` features of the prepared matrix ``X`` (rows x features).

    Every value is a finite float; degenerate inputs (one column, constant columns) give
    the neutral value 0 for the affected feature.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    S = _sample(X, SAMPLE_ROWS, seed)
    S = np.where(np.isfinite(S), S, 0.0)
    out: dict[str, float] = {
        "log_rows": math.log10(max(n, 1)),
        "log_features": math.log10(max(d, 1)),
    }
    distinct = [len(np.unique(S[:, j])) for j in range(d)]
    out["discrete_share"] = float(np.mean([k <= 10 for k in distinct])) if d else 0.0
    out["duplicate_share"] = 1.0 - len(np.unique(S, axis=0)) / max(len(S), 1)
    mean = S.mean(axis=0)
    std = S.std(axis=0)
    ok = std > 1e-12
    Z = (S[:, ok] - mean[ok]) / std[ok] if ok.any() else np.zeros((len(S), 1))
    if Z.shape[1] > SPECTRUM_FEATURES:
        rng = np.random.default_rng(seed + 2)
        Z = Z[:, np.sort(rng.choice(Z.shape[1], size=SPECTRUM_FEATURES, replace=False))]
    out["skew"] = float(np.clip(np.abs((Z**3).mean(axis=0)), 0, 10).mean())
    out["kurtosis"] = float(np.log1p(np.abs((Z**4).mean(axis=0) - 3.0)).mean())
    if Z.shape[1] > 1:
        corr = np.corrcoef(Z, rowvar=False)
        upper = np.abs(corr[np.triu_indices_from(corr, k=1)])
        out["correlation"] = float(np.nan_to_num(upper).mean())
        eig = np.clip(np.linalg.eigvalsh(np.nan_to_num(corr))[::-1], 0, None)
        share = eig / max(eig.sum(), 1e-12)
        out["pc1_share"] = float(share[0])
        out["pc90_share"] = float((np.searchsorted(np.cumsum(share), 0.9) + 1) / len(share))
    else:
        out.update(correlation=0.0, pc1_share=1.0, pc90_share=1.0)
    med = np.median(S, axis=0)
    mad = np.median(np.abs(S - med), axis=0) * 1.4826
    mad = np.where(mad > 1e-12, mad, np.where(std > 1e-12, std, 1.0))
    out["tail_share"] = float((np.abs(S - med) / mad > 3).mean())
    out["local_ratio"] = _local_ratio(_sample(Z, NEIGHBOUR_ROWS, seed + 1))
    return {name: float(np.nan_to_num(out[name])) for name in NAMES}


def _local_ratio(Z: np.ndarray) -> float:
    """How much closer a row's nearest neighbour is than a typical row (local structure)."""
    if len(Z) < 3:
        return 0.0
    sq = (Z**2).sum(axis=1)
    dist2 = np.clip(sq[:, None] + sq[None, :] - 2 * Z @ Z.T, 0, None)
    np.fill_diagonal(dist2, np.inf)
    nearest = np.sqrt(dist2.min(axis=1))
    typical = np.sqrt(np.median(dist2[np.isfinite(dist2)]))
    return float(np.median(nearest) / typical) if typical > 0 else 0.0
