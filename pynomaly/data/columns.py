"""Timestamp detection and the split of features from labels and time."""

from __future__ import annotations

import warnings as pywarnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from pynomaly.data._util import (
    _list,
)
from pynomaly.errors import DataError

_TIME_HINTS = ("timestamp", "datetime", "time", "date", "ts", "created", "updated", "when")
_POSITIVE = {"1", "true", "yes", "y", "anomaly", "anomalous", "outlier", "abnormal"}
_POSITIVE |= {"fraud", "attack", "malicious", "bad", "positive", "o", "t"}
_NEGATIVE = {"0", "false", "no", "n", "normal", "inlier", "benign", "good", "negative", "ok"}
_NEGATIVE |= {"f", "i"}


# ------------------------------------------------------------------------ time column


def detect_time_column(df: pd.DataFrame, *, exclude: Iterable[str] = ()) -> str | None:
    """Find the column that holds timestamps, converting it to datetime in ``df``.

    A column of datetime dtype wins; otherwise a text column of which at least 95 % of the
    non-empty values parse as timestamps (columns named like ``time``/``date`` are tried
    first).  Numbers are never taken for timestamps: epoch seconds and plain measurements
    look the same.

    Parameters
    ----------
    df : pandas.DataFrame
        Modified in place when a text column is converted.
    exclude : iterable of str
        Columns that are not candidates (the label column).

    Returns
    -------
    str or None
    """
    skip = set(exclude)
    columns: list[str] = [c for c in df.columns if c not in skip]
    hinted = sorted(columns, key=lambda c: not any(h in str(c).lower() for h in _TIME_HINTS))
    for col in hinted:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            return col
    for col in hinted:
        s = df[col]
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        converted = _parse_times(s)
        if converted is not None:
            df[col] = converted
            return col
    return None


def _parse_times(s: pd.Series) -> pd.Series | None:
    values = s.dropna()
    if values.empty or not all(isinstance(v, str) for v in values.iloc[:200]):
        return None
    sample = values.iloc[:: max(1, len(values) // 1000)][:1000].astype(str)
    if sample.str.fullmatch(r"\s*[-+]?[\d.,eE]+\s*").mean() > 0.5:
        return None  # numbers stored as text
    for kwargs in ({}, {"format": "ISO8601"}, {"format": "mixed"}):
        parsed = _try_datetime(sample, kwargs)
        if parsed is not None and parsed.notna().mean() >= 0.95:
            full = _try_datetime(s, kwargs)
            if full is not None and full.notna().sum() >= 0.95 * len(values):
                return full
    return None


def _try_datetime(s: pd.Series, kwargs: dict[str, Any]) -> pd.Series | None:
    with pywarnings.catch_warnings():
        pywarnings.simplefilter("ignore")
        for utc in (False, True):
            try:
                return pd.to_datetime(s, errors="coerce", utc=utc, **kwargs)
            except (ValueError, TypeError, OverflowError):
                continue
    return None


def _to_datetime_strict(s: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    if pd.api.types.is_numeric_dtype(s):
        raise DataError(f"time column {name!r} holds numbers, not timestamps")
    for kwargs in ({}, {"format": "ISO8601"}, {"format": "mixed"}):
        parsed = _try_datetime(s, kwargs)
        if parsed is not None and parsed.notna().sum() >= 0.95 * s.notna().sum():
            return parsed
    raise DataError(f"time column {name!r}: fewer than 95% of its values are timestamps")


# ---------------------------------------------------------------------- feature split


def split_features(
    df: pd.DataFrame, *, label_column: str | None = None, time_column: str | None = None
) -> tuple[pd.DataFrame, np.ndarray | None, pd.Series | None]:
    """Separate the model's input columns from ground-truth labels and timestamps.

    Parameters
    ----------
    df : pandas.DataFrame
    label_column : str, optional
        Binary ground truth: 0/1, booleans, or two values of which the one that reads as
        an anomaly (``anomaly``, ``outlier``, ``yes`` ...) or else the rarer one becomes 1.
    time_column : str, optional

    Returns
    -------
    features : pandas.DataFrame
    labels : numpy.ndarray of int64 (1 = anomaly) or None
    time : pandas.Series or None

    Raises
    ------
    DataError
        A named column is missing, or the labels are not binary.
    """
    drop = []
    labels = times = None
    if label_column is not None:
        if label_column not in df.columns:
            raise DataError(f"label column {label_column!r} not found; columns are: {_list(df)}")
        labels = _binary_labels(df[label_column], label_column)
        drop.append(label_column)
    if time_column is not None:
        if time_column not in df.columns:
            raise DataError(f"time column {time_column!r} not found; columns are: {_list(df)}")
        times = df[time_column]
        drop.append(time_column)
    features = df.drop(columns=drop) if drop else df
    if features.shape[1] == 0:
        raise DataError("no feature columns are left after removing the label and time columns")
    return features, labels, times


def _binary_labels(s: pd.Series, name: str) -> np.ndarray:
    missing = int(s.isna().sum())
    if missing:
        raise DataError(f"label column {name!r} has {missing:,} missing values")
    counts = s.value_counts()
    values = list(counts.index)
    if len(values) > 2:
        shown = ", ".join(repr(v) for v in values[:5])
        raise DataError(
            f"label column {name!r} has {len(values)} distinct values ({shown}...); it must be "
            "binary: 0/1, true/false, or two values of which the rarer marks anomalies"
        )
    as_text = {str(v).strip().lower() for v in values}
    if pd.api.types.is_bool_dtype(s) or as_text <= {"0", "1", "0.0", "1.0", "true", "false"}:
        flags: np.ndarray = (
            s.astype(str).str.strip().str.lower().isin(("1", "1.0", "true")).to_numpy(np.int64)
        )
        return flags
    if len(values) == 1:
        raise DataError(f"label column {name!r} holds the single value {values[0]!r}")
    a, b = values  # counts order: the rarer value is b
    ta, tb = str(a).strip().lower(), str(b).strip().lower()
    if ta in _POSITIVE or tb in _NEGATIVE:
        positive = a
    elif tb in _POSITIVE or ta in _NEGATIVE:
        positive = b
    else:
        positive = b
    marked: np.ndarray = (s == positive).to_numpy(np.int64)
    return marked
