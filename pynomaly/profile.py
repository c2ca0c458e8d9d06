"""Profile a table: per-column statistics and dataset-level warnings (pandas only, no Django).

The result is plain JSON (stored in ``DatasetVersion.profile``), so every number is a
Python float/int and every missing or non-finite value is ``None``.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

HISTOGRAM_BINS = 20
TOP_VALUES = 10
HIGH_MISSING_SHARE = 0.2
# Below this many rows, "every value is unique" says nothing about an ID column.
MIN_ROWS_FOR_ID = 20
_TYPE_SAMPLE = 10_000
_ID_NAME = re.compile(
    r"(^|[_\s.-])(id|uuid|guid|key|index)$|^(id|uuid|guid)([_\s.-]|$)", re.IGNORECASE
)


def _num(value: Any) -> float | int | None:
    """A JSON-safe number: NaN and infinities become None."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _text(value: Any, limit: int = 80) -> str:
    s = str(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def column_kind(s: pd.Series) -> str:
    """One of numeric, boolean, datetime, categorical (text and everything else)."""
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    if pd.api.types.is_numeric_dtype(s):
        return "numeric"
    return "categorical"


def value_types(s: pd.Series) -> list[str]:
    """Python type names among a sample of an object column's values (ints and floats count as one)."""
    if not pd.api.types.is_object_dtype(s):
        return []
    sample = s.dropna().iloc[:_TYPE_SAMPLE]
    names = set()
    for v in sample:
        if isinstance(v, (bool, np.bool_)):
            names.add("boolean")
        elif isinstance(v, (int, float, np.integer, np.floating)):
            names.add("number")
        elif isinstance(v, str):
            names.add("text")
        else:
            names.add(type(v).__name__)
    return sorted(names)


def _histogram(values: np.ndarray) -> dict[str, list[float] | list[int]] | None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return {"edges": [lo, hi], "counts": [int(values.size)]}
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(lo, hi))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _numeric_stats(s: pd.Series) -> dict[str, Any]:
    values = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype="float64", na_value=np.nan)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "histogram": None}
    return {
        "min": _num(finite.min()),
        "max": _num(finite.max()),
        "mean": _num(finite.mean()),
        "std": _num(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        "histogram": _histogram(finite),
    }


def _top_values(s: pd.Series) -> list[dict[str, Any]]:
    counts = s.dropna().astype(str).value_counts().head(TOP_VALUES)
    return [{"value": _text(v), "count": int(c)} for v, c in counts.items()]


def profile_column(name: str, s: pd.Series) -> dict[str, Any]:
    rows = len(s)
    missing = int(s.isna().sum())
    try:
        distinct = int(s.nunique(dropna=True))
    except TypeError:  # unhashable values (lists from JSON): count their text
        distinct = int(s.dropna().astype(str).nunique())
    kind = column_kind(s)
    col: dict[str, Any] = {
        "name": name,
        "dtype": str(s.dtype),
        "kind": kind,
        "missing": missing,
        "missing_share": (missing / rows) if rows else 0.0,
        "distinct": distinct,
    }
    if kind == "numeric":
        col.update(_numeric_stats(s))
    elif kind == "boolean":
        col["top"] = _top_values(s)
    elif kind == "datetime":
        present = s.dropna()
        col["min"] = present.min().isoformat() if len(present) else None
        col["max"] = present.max().isoformat() if len(present) else None
    else:
        col["top"] = _top_values(s)
        col["types"] = value_types(s)
    return col


def _likely_id(name: str, s: pd.Series, col: dict[str, Any], rows: int) -> bool:
    if rows < MIN_ROWS_FOR_ID or col["missing"] or col["distinct"] != rows:
        return False
    if pd.api.types.is_integer_dtype(s):
        # Unique integers are an ID when named so, or when they simply count up.
        return bool(_ID_NAME.search(name)) or bool(s.is_monotonic_increasing)
    if col["kind"] == "categorical":
        return True  # unique text in every row: names, keys, hashes
    return False


def _mostly_numbers(s: pd.Series) -> float:
    """Share of a text column's values that read as numbers (0 for non-text columns)."""
    if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
        return 0.0
    sample = s.dropna().iloc[:_TYPE_SAMPLE]
    if sample.empty:
        return 0.0
    return float(pd.to_numeric(sample.astype(str).str.strip(), errors="coerce").notna().mean())


def profile_frame(df: pd.DataFrame, *, time_column: str | None = None) -> dict[str, Any]:
    """Profile every column of ``df`` and list what a user should look at before detecting.

    Returns ``{"rows", "columns": [per-column dicts], "warnings": [{column, kind, message}]}``.
    """
    rows = len(df)
    columns: list[dict[str, Any]] = []
    warnings: list[dict[str, str]] = []

    def warn(column: str, kind: str, message: str) -> None:
        warnings.append({"column": column, "kind": kind, "message": message})

    for name in df.columns:
        s = df[name]
        col = profile_column(str(name), s)
        col["is_time"] = name == time_column
        columns.append(col)
        if rows and col["missing"] == rows:
            warn(name, "empty", f"{name!r} has no values at all.")
        elif col["distinct"] <= 1:
            warn(
                name,
                "constant",
                f"{name!r} holds a single value; it carries no signal and is best dropped.",
            )
        if col["missing_share"] > HIGH_MISSING_SHARE and col["missing"] < rows:
            warn(name, "missing", f"{name!r} is {col['missing_share']:.0%} missing.")
        types = col.get("types") or []
        if len(types) > 1:
            warn(
                name,
                "mixed",
                f"{name!r} mixes value types ({', '.join(types)}); it is stored as text.",
            )
        else:
            share = _mostly_numbers(s)
            if 0.5 <= share < 1.0:
                warn(
                    name,
                    "mixed",
                    f"{name!r} is {share:.0%} numbers and the rest text; check for typos or markers like 'n/a'.",
                )
        if name != time_column and _likely_id(str(name), s, col, rows):
            col["likely_id"] = True
            warn(
                name,
                "id",
                f"{name!r} is unique in every row; it looks like an ID and should not be a feature.",
            )
    return {"rows": rows, "columns": columns, "warnings": warnings}
