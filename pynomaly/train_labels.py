"""Partial training labels from a column: 1 = known anomaly, 0 = known normal, empty = unknown.

Stricter than an evaluation label column (:func:`pynomaly.data.split_features`): a training
label is a claim about a row, so anything but 1, 0 (as numbers, text or booleans) and an
empty cell is refused with the values found, rather than guessed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError

_ONE = {"1", "1.0", "true"}
_ZERO = {"0", "0.0", "false"}
_EMPTY = {"", "nan", "none", "null", "na", "n/a"}


def parse_train_labels(values: pd.Series, column: str) -> np.ndarray:
    """The column as floats: 1.0, 0.0 or NaN (unknown); DataError on anything else."""
    if pd.api.types.is_bool_dtype(values):
        as_float: np.ndarray = values.astype("float64").to_numpy()
        return as_float
    if pd.api.types.is_numeric_dtype(values):
        out: np.ndarray = pd.to_numeric(values, errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        bad = np.isfinite(out) & ~np.isin(out, (0.0, 1.0))
        if np.isinf(out).any():
            bad |= np.isinf(out)
        if bad.any():
            _refuse(column, pd.Series(out[bad]), int(bad.sum()))
        return out
    text = values.astype("string").str.strip().str.lower().fillna("")
    out = np.full(len(values), np.nan)
    ones, zeros = text.isin(_ONE).to_numpy(), text.isin(_ZERO).to_numpy()
    out[ones], out[zeros] = 1.0, 0.0
    bad = ~(ones | zeros | text.isin(_EMPTY).to_numpy())
    if bad.any():
        _refuse(column, values[bad], int(bad.sum()))
    return out


def _refuse(column: str, bad: pd.Series, count: int) -> None:
    examples = ", ".join(repr(v) for v in pd.unique(bad.astype(str))[:3])
    raise DataError(
        f"training label column {column!r} must hold 1 (anomaly), 0 (normal) or nothing "
        f"(unknown); {count:,} row(s) hold other values, e.g. {examples}",
        column=column,
    )


def label_counts(labels: np.ndarray) -> dict[str, int]:
    """How many known anomalies, known normals and unknown rows."""
    return {
        "anomalies": int((labels == 1).sum()),
        "normals": int((labels == 0).sum()),
        "unknown": int((~np.isfinite(labels)).sum()),
    }
