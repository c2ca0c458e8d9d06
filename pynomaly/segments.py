"""Segment hints: where did the anomalies happen?

For each categorical column (text, boolean, or a few distinct values), the values that are
over-represented among the flagged rows: how many flagged rows carry the value, how many
rows carry it at all, and the *lift* — the value's share among the flagged rows divided by
its share among all rows (2.0: twice as common among the anomalies as in the data). A
one-sided hypergeometric test says how surprising the count would be if the flagged rows
were drawn at random; hints must clear both a minimum lift and a p-value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_DISTINCT = 50  # a column with more distinct values is not a segment
MIN_LIFT = 1.5
MIN_COUNT = 2
MAX_P = 0.01
MAX_HINTS = 10


def is_categorical(values: pa.Array | pa.ChunkedArray) -> bool:
    """Text, boolean or dictionary columns with at most :data:`MAX_DISTINCT` values."""
    t = values.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t)):
        return False
    return bool(pc.count_distinct(values).as_py() <= MAX_DISTINCT)


def segment_hints(
    columns: Mapping[str, pa.Array | pa.ChunkedArray | np.ndarray],
    flagged: np.ndarray,
    *,
    max_hints: int = MAX_HINTS,
) -> list[dict[str, Any]]:
    """Over-represented values of ``columns`` among the ``flagged`` rows, strongest first.

    Parameters
    ----------
    columns : mapping of name to array
        Categorical columns, aligned with ``flagged`` (one value per scored row).
    flagged : ndarray of bool

    Returns
    -------
    list of dict
        ``column, value, anomalies, rows, share_anomalies, share_rows, lift, p_value``.
    """
    from scipy.stats import hypergeom

    flagged = np.asarray(flagged, dtype=bool)
    n, k = len(flagged), int(flagged.sum())
    if n == 0 or k == 0 or k == n:
        return []
    hints: list[dict[str, Any]] = []
    for name, raw in columns.items():
        arr = raw if isinstance(raw, (pa.Array, pa.ChunkedArray)) else pa.array(raw)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        if len(arr) != n:
            continue
        encoded = pc.dictionary_encode(arr.cast(pa.string()))
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        codes = np.where(np.asarray(encoded.is_null()), -1, codes).astype(np.int64)
        labels = encoded.dictionary.to_pylist()
        if len(labels) > MAX_DISTINCT:
            continue
        valid = codes >= 0
        rows = np.bincount(codes[valid], minlength=len(labels))
        anomalies = np.bincount(codes[valid & flagged], minlength=len(labels))
        for code, value in enumerate(labels):
            total, hit = int(rows[code]), int(anomalies[code])
            if hit < MIN_COUNT or total == 0:
                continue
            share_a, share_r = hit / k, total / n
            lift = share_a / share_r
            if lift < MIN_LIFT:
                continue
            p = float(hypergeom.sf(hit - 1, n, total, k))
            if p > MAX_P:
                continue
            hints.append(
                {
                    "column": str(name),
                    "value": value,
                    "anomalies": hit,
                    "rows": total,
                    "share_anomalies": share_a,
                    "share_rows": share_r,
                    "lift": lift,
                    "p_value": p,
                }
            )
    hints.sort(key=lambda h: (h["p_value"], -h["lift"], h["column"], str(h["value"])))
    return hints[:max_hints]


def describe(hint: Mapping[str, Any]) -> str:
    """'region = north: 40 of 50 anomalies (80 %) vs 10 % of rows, lift 8.0'."""
    return (
        f"{hint['column']} = {hint['value']}: {hint['anomalies']:,} of the anomalies "
        f"({100 * hint['share_anomalies']:.0f} %) vs {100 * hint['share_rows']:.0f} % of rows, "
        f"lift {hint['lift']:.1f}"
    )
