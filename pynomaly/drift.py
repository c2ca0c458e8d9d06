"""Data drift: how far new rows moved from a reference (the model's training rows), per feature.

Numbers get the two-sample Kolmogorov–Smirnov test and the Population Stability Index (PSI,
ten bins at the reference's deciles); categories get a chi-square test of the new counts
against the reference shares, and the largest change of one category's share; every feature
gets the change of its missing share. A feature is *drifted* when an effect is both
significant and large enough to matter, because with thousands of rows a p-value alone
flags shifts nobody would care about:

* numbers: PSI ≥ ``psi_threshold`` (0.2: the usual "significant shift"), or KS p < ``alpha``
  with a KS statistic ≥ ``ks_threshold`` (0.1);
* categories: chi-square p < ``alpha`` with a share change ≥ ``share_threshold`` (0.1), or
  PSI over the categories ≥ ``psi_threshold``;
* any feature: the missing share moved by ≥ ``missing_threshold`` (0.1).

The execution has drifted when any feature has. Only scipy and numpy: evidently and
alibi-detect do not install beside our pins (see the design notes on dependencies).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy import stats

__all__ = [
    "DriftOptions",
    "DriftReport",
    "FeatureDrift",
    "compare",
    "compare_parquet",
    "sample_reference",
]

_EPS = 1e-4  # floor of a bin's share in PSI: an empty bin must not make it infinite
_MAX_CATEGORIES = 50  # rarer categories are pooled as "(other)"


@dataclass(frozen=True)
class DriftOptions:
    alpha: float = 0.01
    psi_threshold: float = 0.2
    ks_threshold: float = 0.1
    share_threshold: float = 0.1
    missing_threshold: float = 0.1
    bins: int = 10


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison; ``test`` is ``"ks"`` (numbers) or ``"chi2"`` (categories)."""

    name: str
    kind: str
    test: str
    statistic: float | None
    p_value: float | None
    psi: float | None
    share_change: float | None  # categories: largest absolute change of one category's share
    missing_reference: float
    missing_current: float
    drifted: bool
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        return out


@dataclass(frozen=True)
class DriftReport:
    features: tuple[FeatureDrift, ...]
    reference_rows: int
    current_rows: int
    options: DriftOptions = field(default_factory=DriftOptions)

    @property
    def detected(self) -> bool:
        return any(f.drifted for f in self.features)

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``{"detected", "drifted", "share", "reference_rows", "current_rows", "features": {name: {...}}}``."""
        n = len(self.features)
        return {
            "detected": self.detected,
            "drifted": self.drifted_features,
            "share": (len(self.drifted_features) / n) if n else 0.0,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "features": {f.name: _finite(f.to_dict()) for f in self.features},
        }


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}


def sample_reference(df: pd.DataFrame, max_rows: int = 50_000, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of at most ``max_rows`` rows (the reference need not be every row)."""
    if len(df) <= max_rows:
        return df
    rng = np.random.default_rng(seed)
    return df.iloc[np.sort(rng.choice(len(df), size=max_rows, replace=False))]


def _psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    ref = np.clip(ref_share, _EPS, None)
    cur = np.clip(cur_share, _EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _numeric(name: str, ref: pd.Series, cur: pd.Series, options: DriftOptions) -> FeatureDrift:
    miss_ref, miss_cur = float(ref.isna().mean()), float(cur.isna().mean())
    a = ref.dropna().to_numpy(dtype=np.float64)
    b = cur.dropna().to_numpy(dtype=np.float64)
    reasons: list[str] = []
    statistic = p_value = psi = None
    if len(a) and len(b):
        ks = stats.ks_2samp(a, b)
        statistic, p_value = float(ks.statistic), float(ks.pvalue)
        edges = np.unique(np.quantile(a, np.linspace(0, 1, options.bins + 1))[1:-1])
        ref_counts = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1)
        cur_counts = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1)
        psi = _psi(ref_counts / len(a), cur_counts / len(b))
        if psi >= options.psi_threshold:
            reasons.append(f"PSI {psi:.2f} ≥ {options.psi_threshold:g}")
        if p_value < options.alpha and statistic >= options.ks_threshold:
            reasons.append(f"KS {statistic:.2f} (p={p_value:.1e})")
    reasons += _missing_reason(miss_ref, miss_cur, options)
    return FeatureDrift(
        name,
        "number",
        "ks",
        statistic,
        p_value,
        psi,
        None,
        miss_ref,
        miss_cur,
        bool(reasons),
        tuple(reasons),
    )


def _categorical(name: str, ref: pd.Series, cur: pd.Series, options: DriftOptions) -> FeatureDrift:
    miss_ref, miss_cur = float(ref.isna().mean()), float(cur.isna().mean())
    a, b = ref.dropna().astype(str), cur.dropna().astype(str)
    reasons: list[str] = []
    statistic = p_value = psi = change = None
    if len(a) and len(b):
        top = list(a.value_counts().index[:_MAX_CATEGORIES])
        pooled_a = a.where(a.isin(top), "(other)")
        pooled_b = b.where(b.isin(top), "(other)")
        cats = sorted(set(pooled_a) | set(pooled_b))
        ref_counts = pooled_a.value_counts().reindex(cats, fill_value=0).to_numpy(np.float64)
        cur_counts = pooled_b.value_counts().reindex(cats, fill_value=0).to_numpy(np.float64)
        ref_share, cur_share = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
        change = float(np.max(np.abs(cur_share - ref_share)))
        psi = _psi(ref_share, cur_share)
        if len(cats) > 1:
            expected = np.clip(ref_share, _EPS, None)
            expected = expected / expected.sum() * cur_counts.sum()
            chi = stats.chisquare(cur_counts, expected)
            statistic, p_value = float(chi.statistic), float(chi.pvalue)
        else:
            statistic, p_value = 0.0, 1.0
        if p_value < options.alpha and change >= options.share_threshold:
            reasons.append(f"a category's share moved by {change:.0%} (p={p_value:.1e})")
        elif psi >= options.psi_threshold:
            reasons.append(f"PSI {psi:.2f} ≥ {options.psi_threshold:g}")
    reasons += _missing_reason(miss_ref, miss_cur, options)
    return FeatureDrift(
        name,
        "category",
        "chi2",
        statistic,
        p_value,
        psi,
        change,
        miss_ref,
        miss_cur,
        bool(reasons),
        tuple(reasons),
    )


def _missing_reason(miss_ref: float, miss_cur: float, options: DriftOptions) -> list[str]:
    if abs(miss_cur - miss_ref) >= options.missing_threshold:
        return [f"missing share {miss_ref:.0%} → {miss_cur:.0%}"]
    return []


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    options: DriftOptions | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column (``columns``: default, those both have).

    Numeric columns (bool included) are compared as numbers, every other column as categories.
    A column missing from ``current`` counts as wholly missing there.
    """
    options = options or DriftOptions()
    names = list(columns) if columns is not None else [c for c in reference.columns if c in current]
    features = []
    for name in names:
        if name not in reference.columns:
            continue
        ref = reference[name]
        cur = current[name] if name in current.columns else pd.Series([None] * len(current))
        numeric = pd.api.types.is_numeric_dtype(ref) or pd.api.types.is_bool_dtype(ref)
        if numeric:  # values of the current rows that are not numbers count as missing
            features.append(
                _numeric(name, ref.astype("float64"), pd.to_numeric(cur, errors="coerce"), options)
            )
        else:
            features.append(_categorical(name, ref, cur, options))
    return DriftReport(tuple(features), len(reference), len(current), options)


def compare_parquet(
    reference_path: str | os.PathLike[str],
    current_path: str | os.PathLike[str],
    *,
    columns: Sequence[str],
    max_rows: int = 50_000,
    options: DriftOptions | None = None,
) -> DriftReport:
    """:func:`compare` on two Parquet files, reading only ``columns`` and at most ``max_rows``
    (seeded sample) of each: the reference need not be read whole on every execution."""
    from .data import read_parquet

    def read(path: str | os.PathLike[str], wanted: Sequence[str]) -> pd.DataFrame:
        names = set(pq.ParquetFile(path).schema_arrow.names)
        return sample_reference(read_parquet(path, [c for c in wanted if c in names]), max_rows)

    reference = read(reference_path, columns)
    current = read(current_path, list(reference.columns))
    return compare(reference, current, columns=list(reference.columns), options=options)
