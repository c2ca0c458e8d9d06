"""Training labels of a run: which rows are known anomalies (1), known normals (0), unknown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .models import Run


def run_train_labels(run: Run, frame: pd.DataFrame) -> np.ndarray | None:
    """The run's partial labels, one per row of ``frame`` (NaN = unknown), or None.

    Read from ``run.train_label_column``: 1 / 0 / empty; any other value is refused with a
    ``pynomaly.errors.DataError`` naming the column and the values found (the run fails
    with that message).
    """
    from pynomaly.errors import DataError
    from pynomaly.train_labels import parse_train_labels

    column = run.train_label_column
    if not column:
        return None
    if column not in frame.columns:
        raise DataError(f"training label column {column!r} is not in the dataset", column=column)
    return parse_train_labels(frame[column], column)
