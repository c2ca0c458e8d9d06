"""Training labels of a run: which rows are known anomalies (1), known normals (0), unknown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .models import Run


def run_train_labels(run: Run, frame: pd.DataFrame) -> np.ndarray | None:
    """The run's partial labels, one per row of ``frame`` (NaN = unknown), or None.

    Read from ``run.train_label_column``: 1 / 0 / empty; any other value is refused with a
    ``pynomaly.errors.DataError`` naming the column and the values found (the run fails
    with that message). With ``run.use_verdicts`` the analysts' verdicts on the dataset
    version (their training part, apps.feedback) are laid over it.
    """
    from pynomaly.errors import DataError
    from pynomaly.train_labels import parse_train_labels

    column = run.train_label_column
    base = None
    if column:
        if column not in frame.columns:
            raise DataError(
                f"training label column {column!r} is not in the dataset", column=column
            )
        base = parse_train_labels(frame[column], column)
    if run.use_verdicts:
        # The analysts' verdicts (their training part: the held-out ones judge the retrain)
        # override the column where both speak: someone looked at that row.
        from apps.feedback.selectors import run_training_labels
        from pynomaly.feedback import labels_array

        return labels_array(run_training_labels(run), len(frame), base)
    return base
