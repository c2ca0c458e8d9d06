"""Reads for run pages and the API: access to a run, and its results and data, cached per file.

The results table's layout and every computation over it belong to the engine
(:mod:`pynomaly.results`); this module finds the files in Django storage, reads only
the columns and rows a page needs, and keeps them in a per-process cache. Flags follow
the saved threshold (``score > run.threshold``), so saving a threshold is one row
update and every page and download agrees at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.http import Http404, HttpRequest

from apps.common.storage import content_key, open_copy
from apps.tenants.access import get_scoped_or_404, require
from apps.tenants.permissions import CREATE
from pynomaly import results as R

from .models import Run


class ResultsUnavailable(Exception):
    """The run has no readable results file."""


# ---------------------------------------------------------------- access
def get_run_for_member(request: HttpRequest, run_id: int, *, write: bool = False) -> Run:
    """The tenant's run or 404; ``write`` also demands the CREATE permission (else 403).

    A user admitted by a share (``request.run_share``, see apps.runs.sharing) gets that one run, read-only.
    """
    share = getattr(request, "run_share", None)
    if share is not None and (write or share.run_id != run_id):
        raise Http404("No such run.")
    related = ("tenant", "dataset_version__dataset", "detector_version__config", "created_by")
    run = get_scoped_or_404(request, Run.objects.select_related(*related), pk=run_id)
    if write:
        require(request, CREATE)
    return run


def get_succeeded_run(request: HttpRequest, run_id: int) -> Run:
    """For downloads: a finished run with results, else 404."""
    run = get_run_for_member(request, run_id)
    if run.status != Run.Status.SUCCEEDED or not run.results:
        raise Http404("This run has no results yet.")
    try:
        file_key(run.results)
    except ResultsUnavailable:
        raise Http404("This run's results file is missing.") from None
    return run


# ---------------------------------------------------------------- cache
class _LRU:
    """A small thread-safe LRU bounded by the bytes of the numpy arrays it holds."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get_or_set(self, key: tuple, make):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = make()
        size = _nbytes(value)
        with self._lock:
            if key not in self._items and size <= self.max_bytes:
                self._items[key] = (value, size)
                self._bytes += size
                while self._bytes > self.max_bytes:
                    _, (_, s) = self._items.popitem(last=False)
                    self._bytes -= s
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def _nbytes(value) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes if value.dtype != object else value.size * 64
    if isinstance(value, dict):
        return 256 + sum(_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return 64 + sum(_nbytes(v) for v in value)
    return 64


_cache = _LRU(max_bytes=256 * 1024 * 1024)


def cached(key: tuple, make):
    """``make()``, kept in the per-process cache under ``key`` (include the files' keys)."""
    return _cache.get_or_set(key, make)


def file_key(f) -> tuple:
    """Identifies one file's content (see :func:`apps.common.storage.content_key`)."""
    try:
        return content_key(f.name, f.storage)
    except FileNotFoundError:
        raise ResultsUnavailable(f"missing file {f.name}") from None


def _source(f):
    """The file for pyarrow: its path on disk; on remote storage (S3) a memory map of this
    process's local copy, fetched once per content (see :func:`open_copy`)."""
    try:
        return f.path
    except NotImplementedError:
        return open_copy(f.name, f.storage, pa.memory_map)


def parquet_file(f) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(_source(f))
    except (FileNotFoundError, pa.ArrowException, OSError) as exc:
        raise ResultsUnavailable(str(exc)) from None


def column_names(f) -> list[str]:
    return _cache.get_or_set(
        ("names", *file_key(f)), lambda: list(parquet_file(f).schema_arrow.names)
    )


def read_column(f, name: str, *, cache: bool = True) -> np.ndarray:
    """One whole column as numpy (timestamps as datetime64, text as objects)."""

    def load():
        col = parquet_file(f).read(columns=[name]).column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_timestamp(col.type) and col.type.tz is not None:
            col = col.cast(pa.timestamp(col.type.unit))
        return col.to_numpy()

    return _cache.get_or_set(("col", name, *file_key(f)), load) if cache else load()


def read_rows(f, positions: np.ndarray, columns: list[str]) -> pa.Table:
    """Rows at ``positions`` (in that order), reading only the row groups holding them."""
    pf = parquet_file(f)
    sizes = np.array(
        [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)],
        dtype=np.int64,
    )
    starts = np.concatenate([[0], np.cumsum(sizes)])
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) == 0:
        return pf.schema_arrow.empty_table().select(columns)
    groups = np.searchsorted(starts, positions, side="right") - 1
    needed = np.unique(groups)
    table = pf.read_row_groups(needed.tolist(), columns=columns)
    base = np.zeros(len(sizes), dtype=np.int64)
    base[needed] = np.concatenate([[0], np.cumsum(sizes[needed])[:-1]])
    return table.take(pa.array(positions - starts[groups] + base[groups]))


MAX_CACHED_COLUMN_ROWS = 5_000_000  # fixed-width columns up to this length are kept in memory


def _fixed_width(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_date(t)
    )


def values_at(f, positions: np.ndarray, columns: list[str]) -> dict[str, list]:
    """Python values of ``columns`` at row ``positions``.

    Fixed-width columns come from the per-file column cache (a slider drag re-reads
    nothing); text columns are read from just the row groups holding those rows.
    """
    pf = parquet_file(f)
    schema = pf.schema_arrow
    small = pf.metadata.num_rows <= MAX_CACHED_COLUMN_ROWS
    cached = [c for c in columns if small and _fixed_width(schema.field(c).type)]
    rest = [c for c in columns if c not in cached]
    out: dict[str, list] = {}
    for c in cached:
        out[c] = pa.array(read_column(f, c)[positions], from_pandas=True).to_pylist()
    if rest:
        table = read_rows(f, positions, rest)
        out.update({c: table.column(c).to_pylist() for c in rest})
    return out


def _floats(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fiub":
        return values.astype("float64", copy=False)
    # booleans or integers with missing values arrive as objects
    return pa.array(values, from_pandas=True).cast(pa.float64()).to_numpy(zero_copy_only=False)


def matrix_at(f, positions: np.ndarray, columns: list[str]) -> np.ndarray:
    """(rows × columns) float matrix of numeric ``columns`` at ``positions``."""
    if not columns:
        return np.zeros((len(positions), 0))
    if parquet_file(f).metadata.num_rows <= MAX_CACHED_COLUMN_ROWS:
        return np.column_stack([_floats(read_column(f, c)[positions]) for c in columns])
    table = read_rows(f, positions, columns)
    return np.column_stack(
        [table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in columns]
    )


# ---------------------------------------------------------------- the run's results
def result_columns(run: Run) -> list[str]:
    """The columns of the run's results file; ResultsUnavailable when it is no results table."""
    names = column_names(run.results)
    try:
        R.check_layout(names)
    except R.ResultsFormatError as exc:
        raise ResultsUnavailable(str(exc)) from None
    return names


def scores(run: Run) -> np.ndarray:
    result_columns(run)
    return read_column(run.results, R.SCORE).astype("float64", copy=False)


def row_ids(run: Run) -> np.ndarray:
    result_columns(run)
    return read_column(run.results, R.ROW_ID)


def severity(run: Run) -> np.ndarray:
    if R.SEVERITY not in result_columns(run):
        return np.full(len(scores(run)), np.nan)
    return read_column(run.results, R.SEVERITY).astype("float64", copy=False)


def contribution_columns(run: Run) -> list[str]:
    return R.contribution_columns(result_columns(run))


def contributions_at(run: Run, positions: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Feature names and the (rows × features) contributions at result ``positions``."""
    columns = contribution_columns(run)
    matrix = np.column_stack([read_column(run.results, c)[positions] for c in columns])
    return [R.feature_of(c) for c in columns], matrix.astype("float64")


def flags(run: Run, threshold: float | None = None) -> np.ndarray:
    """Which rows are flagged at ``threshold`` (default: the run's saved one)."""
    t = run.threshold if threshold is None else threshold
    if t is None:
        return R.stored_flags(read_column(run.results, R.LABEL))
    return R.flags(scores(run), t)


def counts(run: Run, threshold: float | None = None) -> dict:
    return R.counts(flags(run, threshold))


def score_range(run: Run) -> dict:
    return R.score_range(scores(run))


def slider_stops(run: Run) -> list[dict]:
    """The threshold slider's stops (flagged rows on a log scale), cached with the results."""
    return cached(("slider", *file_key(run.results)), lambda: R.slider_stops(scores(run)))


def quantiles(run: Run) -> dict:
    """The quantiles the worker stored in the summary; computed for a run without them."""
    return (run.summary or {}).get("quantiles") or R.quantiles(scores(run))


def top_positions(run: Run, n: int) -> np.ndarray:
    """Result positions of the ``n`` highest scores, highest first."""
    return R.top_positions(scores(run), n)


# ---------------------------------------------------------------- the run's data
def dataset_file(run: Run):
    return run.dataset_version.parquet


def dataset_columns(run: Run) -> list[str]:
    return column_names(dataset_file(run))


def feature_columns(run: Run) -> list[str]:
    """Numeric dataset columns that describe a row (not its label or timestamp)."""
    version = run.dataset_version
    schema = parquet_file(version.parquet).schema_arrow
    skip = {
        run.label_column,
        version.time_column,
        (run.summary or {}).get("label_column"),
        (run.summary or {}).get("time_column"),
    }
    numeric = [
        f.name
        for f in schema
        if f.name not in skip
        and (
            pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_boolean(f.type)
        )
    ]
    preferred = [c for c in (run.summary or {}).get("feature_names", []) if c in numeric]
    return preferred + [c for c in numeric if c not in preferred] if preferred else numeric


def column_stats(run: Run) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of each feature column over the whole dataset version."""
    f = dataset_file(run)

    def compute():
        stats = {}
        pf = parquet_file(f)
        small = pf.metadata.num_rows <= MAX_CACHED_COLUMN_ROWS
        for name in feature_columns(run):
            if small:  # the table, heatmap and projection read these columns anyway
                stats[name] = R.moments(read_column(f, name))
            else:
                stats[name] = R.moments(pf.read(columns=[name]).column(name))
        return stats

    return _cache.get_or_set(("stats", *file_key(f), tuple(feature_columns(run))), compute)


def zscores_at(run: Run, ids: np.ndarray, names: list[str]) -> np.ndarray:
    """(rows × features) z-scores of the dataset rows ``ids`` against the whole version."""
    stats = column_stats(run)
    return R.zscores(
        matrix_at(dataset_file(run), ids, names),
        np.array([stats[n][0] for n in names], dtype="float64"),
        np.array([stats[n][1] for n in names], dtype="float64"),
    )


def time_values(run: Run) -> np.ndarray | None:
    """The dataset's time column aligned with the results' rows, when the run has one."""
    name = (run.summary or {}).get("time_column") or None
    if not name or name not in dataset_columns(run):
        return None
    values = read_column(dataset_file(run), name)
    ids = row_ids(run)
    if len(ids) == len(values) and (len(ids) == 0 or (ids[0] == 0 and ids[-1] == len(values) - 1)):
        return values
    return values[ids]


def truth(run: Run) -> np.ndarray | None:
    """The run's label column as booleans per result row; None without a numeric one."""
    name = run.label_column or (run.summary or {}).get("label_column")
    if not name or name not in dataset_columns(run):
        return None
    return R.truth(read_column(dataset_file(run), name, cache=False), row_ids(run))


# ---------------------------------------------------------------- downloads
def download_columns(run: Run) -> list[str]:
    return R.download_columns(result_columns(run))
