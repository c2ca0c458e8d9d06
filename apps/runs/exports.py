"""A run's results as a download: what people need beside the scores.

Every download carries, in this order: ``row_id`` (and a graph run's ``node_id``), the row's
timestamp and id columns when the run has them, ``score``, ``severity``, the flag at the saved
threshold named ``predicted_anomaly`` (never mistaken for a ground-truth ``label`` column of
the data), ``reasons`` for flagged rows (the model's attributions where the run explained the
row, else stored contributions or |z-score|, as on the results page), any ``contrib:``
columns, and — when asked — every original column of the row (a name that clashes with one of
ours gets a ``data:`` prefix). Batch by batch: the whole file is never in memory.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from pynomaly import results as R

from . import selectors
from .anomalies import _why
from .models import Run

BATCH_ROWS = 50_000


def key_columns(run: Run) -> list[str]:
    """The dataset columns that name a row: its timestamp, and a time series' id column."""
    present = set(selectors.dataset_columns(run))
    options = run.analysis_options or {}
    candidates = [
        (run.summary or {}).get("time_column") or run.dataset_version.time_column,
        options.get("time_column"),
        options.get("id_column") if run.analysis != Run.Analysis.GRAPH else None,
    ]
    out: list[str] = []
    for name in candidates:
        if name and name in present and name not in out:
            out.append(name)
    return out


def columns(run: Run, *, original: bool = False) -> list[str]:
    """The download's column names, in order (see the module note)."""
    layout = _Layout(run, original)
    return [*layout.lead, *layout.keys, *TAIL, *layout.contrib, *(name for _, name in layout.data)]


TAIL = (R.SCORE, R.SEVERITY, R.PREDICTION, R.REASONS)


class _Layout:
    def __init__(self, run: Run, original: bool) -> None:
        self.result = selectors.download_columns(run)
        self.contrib = R.contribution_columns(self.result)
        self.lead = [c for c in (R.ROW_ID, R.NODE_ID) if c in self.result]
        self.keys = key_columns(run)
        ours = {*self.lead, *TAIL, *self.contrib, *self.keys}
        # (source column in the dataset, its name in the download)
        self.data: list[tuple[str, str]] = []
        if original:
            for name in selectors.dataset_columns(run):
                if name not in self.keys:
                    self.data.append((name, R.DATA_PREFIX + name if name in ours else name))


def batches(
    run: Run, *, original: bool = False, only_anomalies: bool = False, batch_size: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The download, batch by batch, flags at the run's saved threshold (``only_anomalies``:
    the flagged rows alone)."""
    layout = _Layout(run, original)
    dataset = selectors.dataset_file(run)
    wanted = layout.keys + [source for source, _ in layout.data]
    results = selectors.parquet_file(run.results)
    offset = 0
    for batch in R.batches(results, layout.result, run.threshold, batch_size):
        n = batch.num_rows
        ids = batch.column(R.ROW_ID).to_numpy()
        flagged = np.asarray(batch.column(R.LABEL).to_numpy(zero_copy_only=False), dtype=bool)
        reasons: list[str | None] = [None] * n
        hits = np.flatnonzero(flagged)
        if len(hits):
            why, _kind = _why(run, offset + hits, ids[hits])
            for i, entries in zip(hits, why, strict=True):
                reasons[int(i)] = R.reasons_text(entries)
        positions = offset + np.arange(n)
        offset += n
        if only_anomalies:
            batch, ids, positions = batch.filter(pa.array(flagged)), ids[hits], positions[hits]
            reasons = [reasons[int(i)] for i in hits]
            n = len(hits)
            if not n:
                continue
        extra = selectors.read_rows(dataset, ids, wanted) if wanted else None
        out: dict[str, pa.Array] = {name: batch.column(name) for name in layout.lead}
        for name in layout.keys:
            out[name] = _plain(extra.column(name))  # type: ignore[union-attr]
        out[R.SCORE] = batch.column(R.SCORE)
        out[R.SEVERITY] = (
            batch.column(R.SEVERITY) if R.SEVERITY in layout.result else pa.nulls(n, pa.float64())
        )
        out[R.PREDICTION] = batch.column(R.LABEL)
        out[R.REASONS] = pa.array(reasons, type=pa.string())
        for name in layout.contrib:
            out[name] = batch.column(name)
        for source, name in layout.data:
            out[name] = _plain(extra.column(source))  # type: ignore[union-attr]
        yield pa.RecordBatch.from_pydict(out)


def _plain(column: pa.ChunkedArray) -> pa.Array:
    """A dataset column as one array (dictionaries decoded: CSV and Parquet readers agree)."""
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array


def csv_chunks(
    run: Run, *, original: bool = False, only_anomalies: bool = False, batch_size: int = BATCH_ROWS
) -> Iterator[bytes]:
    """The download as spreadsheet-safe CSV, one batch at a time."""
    header = columns(run, original=original)
    parts = batches(run, original=original, only_anomalies=only_anomalies, batch_size=batch_size)
    return R.csv_from_batches(header, parts)


def parquet_download(run: Run, *, original: bool = False, only_anomalies: bool = False):
    """A temporary Parquet of the download (deleted on close)."""
    tmp = tempfile.TemporaryFile(suffix=".parquet")
    parts = batches(run, original=original, only_anomalies=only_anomalies)
    first = next(parts, None)
    if first is None:
        schema = pa.schema([(name, pa.null()) for name in columns(run, original=original)])
        R.parquet_from_batches([], tmp, schema)
    else:
        R.parquet_from_batches(itertools.chain([first], parts), tmp, first.schema)
    tmp.seek(0)
    return tmp


def filename(run: Run, suffix: str, *, original: bool = False) -> str:
    return f"run-{run.pk}-results{'-with-data' if original else ''}.{suffix}"
