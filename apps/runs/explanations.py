"""Reads of a run's explanations: the attributions file, global importance, segment hints.

The attributions come from the worker's explain step (:mod:`pynomaly.explain`), stored in
``Run.explanations``; segment hints are recomputed from the dataset's categorical columns
at the threshold shown (:mod:`pynomaly.segments`), so they follow a saved threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from pynomaly import explain as E
from pynomaly import segments as S

from . import selectors
from .models import Run

MAX_IMPORTANCE_FEATURES = 20


def explanation(run: Run) -> E.Explanation | None:
    """The run's attributions (cached per file), or None when it has none or the file is gone."""
    if not run.explanations:
        return None
    try:
        key = selectors.file_key(run.explanations)
    except selectors.ResultsUnavailable:
        return None

    def load() -> E.Explanation:
        source = selectors._source(run.explanations)
        try:
            return E.read(source)
        finally:
            if hasattr(source, "close"):
                source.close()

    try:
        return selectors.cached(("explanation", *key), load)
    except (OSError, pa.ArrowException, KeyError):
        return None


def info(run: Run) -> dict[str, Any]:
    """What the worker recorded: method, label, units, rows, seconds, importance, or an error."""
    return dict((run.summary or {}).get("explanation") or {})


def importance(run: Run) -> list[dict[str, Any]]:
    """Mean |attribution| per feature over the explained (flagged) rows, largest first."""
    stored = info(run).get("importance")
    if stored:
        return list(stored)
    ex = explanation(run)
    if ex is None:
        return []
    return [{"feature": k, "value": v} for k, v in ex.importance().items()]


def top_for(run: Run, ids: np.ndarray, n: int) -> dict[int, list[dict[str, Any]]]:
    """Per explained row id among ``ids``, its ``n`` features pushing the score up most."""
    ex = explanation(run)
    if ex is None or not len(ex):
        return {}
    index = {int(r): i for i, r in enumerate(ex.row_ids)}
    hits = [int(r) for r in ids if int(r) in index]
    if not hits:
        return {}
    rows = np.array([index[r] for r in hits])
    tops = E.top_attributions(ex.values[rows], ex.feature_names, n)
    return dict(zip(hits, tops, strict=True))


def row(run: Run, row_id: int) -> dict[str, Any] | None:
    """One row's attributions (all features, largest |value| first), or None if not explained."""
    ex = explanation(run)
    return ex.row(int(row_id)) if ex is not None else None


def _categorical_columns(run: Run) -> dict[str, pa.Array]:
    f = selectors.dataset_file(run)

    def load() -> dict[str, pa.Array]:
        pf = selectors.parquet_file(f)
        skip = {run.label_column, run.dataset_version.time_column}
        names = [
            field.name
            for field in pf.schema_arrow
            if field.name not in skip
            and (
                pa.types.is_string(field.type)
                or pa.types.is_large_string(field.type)
                or pa.types.is_boolean(field.type)
                or pa.types.is_dictionary(field.type)
            )
        ]
        out = {}
        for name in names:
            values = pf.read(columns=[name]).column(name).combine_chunks()
            if S.is_categorical(values):
                out[name] = values
        return out

    return selectors.cached(("segment-columns", *selectors.file_key(f)), load)


def segments(run: Run, threshold: float | None = None) -> list[dict[str, Any]]:
    """Values of categorical columns over-represented among the rows flagged at ``threshold``."""
    columns = _categorical_columns(run)
    if not columns:
        return []
    flagged = selectors.flags(run, threshold)
    ids = selectors.row_ids(run)
    n = len(next(iter(columns.values())))
    if len(ids) == n and (n == 0 or (ids[0] == 0 and ids[-1] == n - 1)):
        aligned = columns  # every row scored, in order (the usual case): no copy
    else:
        aligned = {name: values.take(pa.array(ids)) for name, values in columns.items()}
    return S.segment_hints(aligned, flagged)
