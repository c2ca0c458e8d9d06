"""Reading run results: only the columns and rows a page needs, cached per file.

Labels follow the saved threshold. The results Parquet is never rewritten: wherever a
row's flag is shown, counted or downloaded it is computed as ``score > run.threshold``
(the engine's own rule), so saving a threshold is one row update and every page and
download agrees at once. Only a run without a threshold falls back to the stored
``label`` column.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.db import transaction
from django.http import Http404, HttpRequest

from apps.audit.services import audit_record
from apps.tenants.access import get_scoped_or_404, require
from apps.tenants.permissions import CREATE

from . import charts
from .models import Run

CONTRIB = "contrib:"
RESULT_COLUMNS = ["row_id", "score", "label", "severity"]
TOP_N = 30  # rows in the heatmap
WHY_N = 3  # features named per table row
PER_PAGE = 25
MAX_TABLE_COLUMNS = 12
MAX_HEATMAP_FEATURES = 40
PROJECTION_SAMPLE = 5000
PROJECTION_TOP = 1000  # highest-scoring rows always in the projection


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


def file_key(f) -> tuple:
    """Identifies one file's content: path + mtime + size locally, the name on remote storage."""
    try:
        path = f.path
    except NotImplementedError:
        return (type(f.storage).__name__, f.name)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ResultsUnavailable(f"missing file {f.name}") from None
    return (path, st.st_mtime_ns, st.st_size)


def _source(f):
    try:
        return f.path
    except NotImplementedError:
        return f.storage.open(f.name, "rb")


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


# ---------------------------------------------------------------- result columns
def scores(run: Run) -> np.ndarray:
    return read_column(run.results, "score").astype("float64", copy=False)


def row_ids(run: Run) -> np.ndarray:
    return read_column(run.results, "row_id")


def severity(run: Run) -> np.ndarray:
    if "severity" not in column_names(run.results):
        return np.full(len(scores(run)), np.nan)
    return read_column(run.results, "severity").astype("float64", copy=False)


def contribution_columns(run: Run) -> list[str]:
    return [c for c in column_names(run.results) if c.startswith(CONTRIB)]


def flags(run: Run, threshold: float | None = None) -> np.ndarray:
    """Which rows are flagged at ``threshold`` (default: the run's saved one)."""
    t = run.threshold if threshold is None else threshold
    if t is None:
        return read_column(run.results, "label").astype(bool)
    with np.errstate(invalid="ignore"):
        return scores(run) > t


def counts(run: Run, threshold: float | None = None) -> dict:
    n = len(scores(run))
    flagged = int(flags(run, threshold).sum())
    return {"rows": n, "anomalies": flagged, "anomaly_rate": flagged / n if n else 0.0}


def score_range(run: Run) -> dict:
    s = scores(run)
    finite = s[np.isfinite(s)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    step = (hi - lo) / 1000 if hi > lo else 0.001
    return {"min": lo, "max": hi, "step": float(f"{step:.3g}")}


def quantiles(run: Run) -> dict:
    q = (run.summary or {}).get("quantiles")
    if q:
        return q
    s = scores(run)
    s = s[np.isfinite(s)]
    if not len(s):
        return {}
    names = ["min", "p25", "p50", "p75", "p90", "p99", "max"]
    return dict(
        zip(names, np.quantile(s, [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1]).tolist(), strict=True)
    )


# ---------------------------------------------------------------- dataset columns
def _version(run: Run):
    return run.dataset_version


def dataset_columns(run: Run) -> list[str]:
    return column_names(_version(run).parquet)


def feature_columns(run: Run) -> list[str]:
    """Numeric dataset columns that describe a row (not its label or timestamp)."""
    version = _version(run)
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
    f = _version(run).parquet

    def compute():
        stats = {}
        pf = parquet_file(f)
        small = pf.metadata.num_rows <= MAX_CACHED_COLUMN_ROWS
        for name in feature_columns(run):
            if small:  # the table, heatmap and projection read these columns anyway
                col = pa.array(_floats(read_column(f, name)))
            else:
                col = pf.read(columns=[name]).column(name).cast(pa.float64())
            mean = pc.mean(col).as_py()
            std = pc.stddev(col, ddof=0).as_py()
            stats[name] = (mean if mean is not None else 0.0, std if std else 0.0)
        return stats

    return _cache.get_or_set(("stats", *file_key(f), tuple(feature_columns(run))), compute)


def zscores(values: np.ndarray, names: list[str], stats: dict) -> np.ndarray:
    """(rows × features) z-scores; a constant column gives 0, a missing value NaN."""
    mean = np.array([stats[n][0] for n in names], dtype="float64")
    std = np.array([stats[n][1] for n in names], dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (values - mean) / np.where(std > 0, std, np.nan)
    z[:, std <= 0] = 0.0
    return z


def time_values(run: Run) -> np.ndarray | None:
    """The dataset's time column aligned with the results' rows, when the run has one."""
    name = (run.summary or {}).get("time_column") or None
    if not name or name not in dataset_columns(run):
        return None
    values = read_column(_version(run).parquet, name)
    ids = row_ids(run)
    if len(ids) == len(values) and (len(ids) == 0 or (ids[0] == 0 and ids[-1] == len(values) - 1)):
        return values
    return values[ids]


# ---------------------------------------------------------------- figures
def histogram_figure(run: Run, threshold: float | None) -> dict:
    return charts.histogram(scores(run), threshold if threshold is not None else run.threshold)


def timeseries_figure(run: Run, threshold: float | None) -> dict:
    x = time_values(run)
    title = (run.summary or {}).get("time_column") if x is not None else "row"
    return charts.timeseries(scores(run), flags(run, threshold), x, x_title=title or "row")


def top_positions(run: Run, n: int) -> np.ndarray:
    """Result positions of the ``n`` highest scores, highest first."""
    s = np.nan_to_num(scores(run), nan=-np.inf)
    n = min(n, len(s))
    if n == 0:
        return np.arange(0)
    top = np.argpartition(-s, n - 1)[:n]
    return top[np.argsort(-s[top], kind="stable")]


def heatmap_figure(run: Run) -> dict | None:
    pos = top_positions(run, TOP_N)
    if len(pos) == 0:
        return None
    ids = row_ids(run)[pos]
    contribs = contribution_columns(run)
    if contribs:
        names = [c[len(CONTRIB) :] for c in contribs]
        matrix = np.column_stack([read_column(run.results, c)[pos] for c in contribs]).astype(
            "float64"
        )
        kind = "contribution"
    else:
        names = feature_columns(run)
        if not names:
            return None
        matrix = zscores(matrix_at(_version(run).parquet, ids, names), names, column_stats(run))
        kind = "z-score"
    if len(names) > MAX_HEATMAP_FEATURES:
        keep = np.sort(np.argsort(-np.nanmean(np.abs(matrix), axis=0))[:MAX_HEATMAP_FEATURES])
        matrix, names = matrix[:, keep], [names[i] for i in keep]
        kind += f", {MAX_HEATMAP_FEATURES} most deviating features"
    return charts.heatmap(matrix, ids.tolist(), names, kind=kind)


def _projection_coords(run: Run) -> dict | None:
    names = feature_columns(run)
    if len(names) < 2:
        return None

    def compute():
        n = len(scores(run))
        pos = charts.sample_rows(
            n, PROJECTION_SAMPLE, seed=run.pk or 0, must=top_positions(run, PROJECTION_TOP)
        )
        ids = row_ids(run)[pos]
        values = matrix_at(_version(run).parquet, ids, names)
        coords, variance = charts.pca_2d(zscores(values, names, column_stats(run)))
        return {"pos": pos, "coords": coords, "variance": variance}

    key = ("projection", *file_key(run.results), *file_key(_version(run).parquet))
    return _cache.get_or_set(key, compute)


def projection_figure(run: Run, threshold: float | None) -> dict | None:
    p = _projection_coords(run)
    if p is None:
        return None
    pos = p["pos"]
    return charts.projection(
        p["coords"],
        scores(run)[pos],
        flags(run, threshold)[pos],
        row_ids(run)[pos],
        total_rows=len(scores(run)),
        variance=p["variance"],
    )


# ---------------------------------------------------------------- anomalies table
@dataclass
class TablePage:
    rows: list[dict]
    columns: list[str]
    more_columns: int
    sort: str
    direction: str
    page: int
    pages: int
    total: int
    per_page: int
    why_kind: str
    sortable: list[str] = field(default_factory=list)

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.page * self.per_page, self.total)


def anomalies_table(
    run: Run,
    threshold: float | None = None,
    *,
    sort: str = "score",
    direction: str = "desc",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> TablePage:
    """One page of the flagged rows, sorted, with their values and why they stand out."""
    all_columns = dataset_columns(run)
    columns = all_columns[:MAX_TABLE_COLUMNS]
    sortable = ["score", "severity", "row_id", *all_columns]
    sort = sort if sort in sortable else "score"
    direction = "asc" if direction == "asc" else "desc"
    flagged = np.flatnonzero(flags(run, threshold))
    total = len(flagged)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    ordered = flagged[_sort_order(run, flagged, sort, direction, need=page * per_page)]
    pos = ordered[(page - 1) * per_page : page * per_page]
    ids = row_ids(run)[pos]
    values = values_at(_version(run).parquet, ids, columns)
    why, why_kind = _why(run, pos, ids)
    sc, sev = scores(run)[pos], severity(run)[pos]
    rows = [
        {
            "row_id": int(ids[i]),
            "score": float(sc[i]),
            "severity": _finite(sev[i]),
            "values": [_short(values[c][i]) for c in columns],
            "why": why[i],
        }
        for i in range(len(pos))
    ]
    return TablePage(
        rows,
        columns,
        len(all_columns) - len(columns),
        sort,
        direction,
        page,
        pages,
        total,
        per_page,
        why_kind,
        sortable,
    )


def _short(v):
    """Floats at 6 significant digits for the table; the downloads keep full precision."""
    return float(f"{v:.6g}") if isinstance(v, float) and np.isfinite(v) else v


def _finite(v) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def _sort_order(
    run: Run, positions: np.ndarray, sort: str, direction: str, need: int
) -> np.ndarray:
    """Stable sort order of ``positions`` by the column ``sort``; missing values last.

    Only the first ``need`` entries must be right: for numbers we sort just the rows that
    can reach them (ties included, so every page agrees with a full stable sort).
    """
    if sort == "score":
        key = scores(run)[positions]
    elif sort == "severity":
        key = severity(run)[positions]
    elif sort == "row_id":
        key = row_ids(run)[positions]
    else:
        key = read_column(_version(run).parquet, sort)[row_ids(run)[positions]]
    if key.dtype.kind in "fiu":
        k = key.astype("float64")
        k = np.where(np.isnan(k), np.inf, -k if direction == "desc" else k)
        if 0 < need < len(k) // 4:
            cut = np.partition(k, need - 1)[need - 1]
            candidates = np.flatnonzero(k <= cut)
            return candidates[np.argsort(k[candidates], kind="stable")]
        return np.argsort(k, kind="stable")
    try:
        arr = pa.array(key, from_pandas=True)
    except (pa.ArrowException, TypeError):
        arr = pa.array([None if v is None else str(v) for v in key])
    order = pc.array_sort_indices(
        arr, order="ascending" if direction == "asc" else "descending", null_placement="at_end"
    )
    return order.to_numpy()


def _why(run: Run, pos: np.ndarray, ids: np.ndarray) -> tuple[list[list[dict]], str]:
    """Per row, the features that stand out most: contributions when stored, else |z-score|."""
    if len(pos) == 0:
        return [], ""
    contribs = contribution_columns(run)
    if contribs:
        names = [c[len(CONTRIB) :] for c in contribs]
        matrix = np.column_stack([read_column(run.results, c)[pos] for c in contribs]).astype(
            "float64"
        )
        rank, kind = np.nan_to_num(matrix, nan=-np.inf), "contribution"
    else:
        names = feature_columns(run)
        if not names:
            return [[] for _ in pos], ""
        matrix = zscores(matrix_at(_version(run).parquet, ids, names), names, column_stats(run))
        rank, kind = np.nan_to_num(np.abs(matrix), nan=-np.inf), "z-score"
    top = np.argsort(-rank, axis=1, kind="stable")[:, :WHY_N]
    return [
        [
            {"feature": names[j], "value": _finite(matrix[i, j])}
            for j in top[i]
            if np.isfinite(rank[i, j])
        ]
        for i in range(len(pos))
    ], kind


# ---------------------------------------------------------------- metrics
METRIC_NAMES = [
    ("roc_auc", "ROC-AUC"),
    ("average_precision", "Average precision"),
    ("precision_at_k", "Precision@k"),
    ("f1", "F1"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("tp", "True positives"),
    ("fp", "False positives"),
    ("tn", "True negatives"),
    ("fn", "False negatives"),
]


def _shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) >= 1000
    ):
        return f"{int(value):,}"  # counts read as counts, not 4.8e+03
    return f"{value:.3g}"


def metric_rows(*metrics: dict) -> list[dict]:
    """[{name, values:[…], shown:[…]}] for the metrics any of the given dicts holds."""
    return [
        {
            "key": key,
            "name": label,
            "values": [m.get(key) for m in metrics],
            "shown": [_shown(m.get(key)) for m in metrics],
        }
        for key, label in METRIC_NAMES
        if any(m.get(key) is not None for m in metrics)
    ]


def _truth(run: Run) -> np.ndarray | None:
    name = run.label_column or (run.summary or {}).get("label_column")
    if not name or name not in dataset_columns(run):
        return None
    values = read_column(_version(run).parquet, name, cache=False)
    if values.dtype.kind not in "biuf":
        return None
    return np.nan_to_num(values.astype("float64"))[row_ids(run)] != 0


# ---------------------------------------------------------------- writes
def run_threshold_set(
    *, run: Run, threshold: float, actor, request: HttpRequest | None = None
) -> Run:
    """Save a new threshold (no refit): summary counts and label metrics follow; audited."""
    if not np.isfinite(threshold):
        raise ValueError("The threshold must be a finite number.")
    after = counts(run, threshold)
    truth = _truth(run) if run.metrics else None
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        before = {
            "threshold": locked.threshold,
            "anomalies": (locked.summary or {}).get("anomalies"),
        }
        locked.threshold = float(threshold)
        locked.summary = {**(locked.summary or {}), **after, "threshold": float(threshold)}
        if truth is not None:
            locked.metrics = {**locked.metrics, **_label_metrics(truth, flags(locked, threshold))}
        locked.save(update_fields=["threshold", "summary", "metrics"])
        audit_record(
            action="run.threshold_changed",
            actor=actor,
            tenant=locked.tenant,
            target=locked,
            request=request,
            details={
                "before": before,
                "after": {"threshold": float(threshold), "anomalies": after["anomalies"]},
            },
        )
    return locked


def _label_metrics(truth: np.ndarray, flagged: np.ndarray) -> dict:
    """The threshold-dependent metrics; ROC-AUC and friends rank scores and do not change."""
    tp = int((flagged & truth).sum())
    fp = int((flagged & ~truth).sum())
    tn = int((~flagged & ~truth).sum())
    fn = int((~flagged & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


# ---------------------------------------------------------------- downloads
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value):
    """Text cells that a spreadsheet would run as a formula get a leading single quote.

    Only text is escaped: numbers are written as numbers (``-1.5`` stays a negative
    number, not the text ``'-1.5``), because a number cell cannot hold a formula.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def download_columns(run: Run) -> list[str]:
    names = column_names(run.results)
    return [c for c in RESULT_COLUMNS if c in names] + contribution_columns(run)


def _batches(run: Run, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Result batches with ``label`` recomputed from the saved threshold."""
    columns = download_columns(run)
    for batch in parquet_file(run.results).iter_batches(batch_size=batch_size, columns=columns):
        if run.threshold is not None and "label" in columns:
            with np.errstate(invalid="ignore"):
                label = (
                    batch.column("score").to_numpy(zero_copy_only=False) > run.threshold
                ).astype(np.int8)
            batch = batch.set_column(columns.index("label"), "label", pa.array(label))
        yield batch


def csv_chunks(run: Run, batch_size: int = 50_000) -> Iterator[bytes]:
    """The results as CSV, one batch at a time (never the whole file in memory)."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(
        [escape_cell(c) for c in download_columns(run)]
    )
    yield header.getvalue().encode()
    options = pacsv.WriteOptions(include_header=False)
    for batch in _batches(run, batch_size):
        if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in batch.schema.types):
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, options)  # numbers only: nothing to escape, and fast
            yield buf.getvalue()
        else:
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            for row in zip(
                *(batch.column(i).to_pylist() for i in range(batch.num_columns)), strict=True
            ):
                writer.writerow([escape_cell(v) for v in row])
            yield text.getvalue().encode()


def parquet_download(run: Run):
    """A temporary Parquet of the results with labels at the saved threshold (deleted on close)."""
    tmp = tempfile.TemporaryFile(suffix=".parquet")
    writer = None
    for batch in _batches(run, 200_000):
        if writer is None:
            writer = pq.ParquetWriter(tmp, batch.schema, compression="zstd")
        writer.write_batch(batch)
    if writer is None:
        pq.write_table(
            parquet_file(run.results).schema_arrow.empty_table().select(download_columns(run)), tmp
        )
    else:
        writer.close()
    tmp.seek(0)
    return tmp


# ---------------------------------------------------------------- comparison
@dataclass
class Comparison:
    error: str = ""
    stats: dict = field(default_factory=dict)
    metrics: list[dict] = field(default_factory=list)
    figure: dict | None = None


def compare_runs(a: Run, b: Run) -> Comparison:
    """Agreement of two succeeded runs on the same dataset version."""
    for name, run in (("A", a), ("B", b)):
        if run.status != Run.Status.SUCCEEDED or not run.results:
            return Comparison(
                error=f"Run {name} (#{run.pk}) has not finished successfully, so it has no results."
            )
    if a.dataset_version_id != b.dataset_version_id:
        return Comparison(
            error=f"Runs #{a.pk} and #{b.pk} scored different data ({a.dataset_version} and "
            f"{b.dataset_version}); only runs on the same dataset version can be compared."
        )
    ids_a, ids_b = row_ids(a), row_ids(b)
    common, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    sa, sb, fa, fb = scores(a)[ia], scores(b)[ib], flags(a)[ia], flags(b)[ib]
    stats = _compare(sa, fa, sb, fb)
    stats.update(
        rows=len(common),
        only_a=stats["flagged_a"] - stats["flagged_both"],
        only_b=stats["flagged_b"] - stats["flagged_both"],
    )
    return Comparison(
        stats=stats,
        metrics=metric_rows(a.metrics or {}, b.metrics or {}),
        figure=charts.compare_scatter(sa, sb, fa, fb, seed=a.pk or 0),
    )


def _compare(sa, fa, sb, fb) -> dict:
    try:
        from pynomaly.evaluate import compare
    except ImportError:  # the engine's comparison is the reference; this mirrors it
        from scipy.stats import spearmanr

        constant = len(sa) < 2 or np.ptp(sa) == 0 or np.ptp(sb) == 0
        both, either = int((fa & fb).sum()), int((fa | fb).sum())
        return {
            "spearman": None if constant else float(spearmanr(sa, sb).statistic),
            "flagged_a": int(fa.sum()),
            "flagged_b": int(fb.sum()),
            "flagged_both": both,
            "jaccard": both / either if either else 1.0,
        }
    return compare(sa, fa, sb, fb)
