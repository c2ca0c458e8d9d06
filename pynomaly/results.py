"""A run's results table: its layout, writing and reading it, and what is computed from it.

One file per run (the platform's worker and ``pynomaly detect -o x.parquet`` write the
same one), one row per scored row:

=================  =======  =====================================================
``row_id``         int64    position of the row in the scored data
``score``          float64  higher = more anomalous
``label``          int8     1 when flagged at the threshold the file was written at
``severity``       float64  0-100, the score's place among the training scores
``contrib:<name>`` float64  the feature's contribution to the score, for detectors
                            that offer it (ECOD, COPOD); absent otherwise; graph runs:
                            the score parts (structure, feature, …) as z-scores
``node_id``        string   graph runs only: the node's id
=================  =======  =====================================================

The file is never rewritten when a user picks another threshold: readers flag
``score > threshold`` (the rule of :mod:`pynomaly.scores`) and fall back to the stored
``label`` only when there is no threshold, so every view of a result agrees at once.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .evaluate import compare

if TYPE_CHECKING:
    from .pipeline import ScoreResult

ROW_ID, SCORE, LABEL, SEVERITY = "row_id", "score", "label", "severity"
NODE_ID = "node_id"  # graph runs: the node's id (pynomaly.graph.results_table)
# Downloads name the flag as a prediction, so it is never mistaken for a ground-truth column
# of the data (often called "label"); ``reasons`` says, for flagged rows, what pushed them up.
PREDICTION, REASONS = "predicted_anomaly", "reasons"
DATA_PREFIX = "data:"  # an original column whose name clashes with one of ours
COLUMNS = (ROW_ID, SCORE, LABEL, SEVERITY)
CONTRIB = "contrib:"
PARQUET_SUFFIXES = (".parquet", ".pq")
QUANTILES = {"min": 0.0, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9, "p99": 0.99, "max": 1.0}
# Text starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ResultsFormatError(ValueError):
    """A file that is not a results table (a required column is missing)."""


# ---------------------------------------------------------------- layout
def contribution_column(feature: str) -> str:
    """The column holding ``feature``'s contributions."""
    return CONTRIB + feature


def contribution_columns(names: Iterable[str]) -> list[str]:
    """The ``contrib:`` columns among ``names``, in file order."""
    return [n for n in names if n.startswith(CONTRIB)]


def feature_of(column: str) -> str:
    """The feature a ``contrib:`` column is about."""
    return column[len(CONTRIB) :]


def download_columns(names: Sequence[str]) -> list[str]:
    """The columns a download carries, in the table's order: the four (a graph run's
    ``node_id`` after ``row_id``), then contributions."""
    fixed = [c for c in COLUMNS if c in names]
    if NODE_ID in names:
        fixed.insert(1, NODE_ID)
    return fixed + contribution_columns(names)


def check_layout(names: Sequence[str]) -> None:
    """Raise :class:`ResultsFormatError` unless ``names`` hold ``row_id`` and ``score``."""
    missing = [c for c in (ROW_ID, SCORE) if c not in names]
    if missing:
        raise ResultsFormatError(f"not a results table: no column {', '.join(missing)}")


# ---------------------------------------------------------------- writing
def table(result: ScoreResult) -> pa.Table:
    """The results table of ``result`` (rows numbered from 0 in scoring order)."""
    n = len(result.scores)
    columns: dict[str, pa.Array] = {
        ROW_ID: pa.array(np.arange(n, dtype=np.int64)),
        SCORE: pa.array(np.asarray(result.scores, dtype=np.float64)),
        LABEL: pa.array(np.asarray(result.labels).astype(np.int8)),
        SEVERITY: pa.array(np.asarray(result.severity, dtype=np.float64)),
    }
    if result.contributions is not None:
        contributions = np.asarray(result.contributions, dtype=np.float64)
        for j, name in enumerate(result.feature_names):
            columns[contribution_column(name)] = pa.array(contributions[:, j])
    return pa.table(columns)


def write(result: ScoreResult, path: str | os.PathLike[str]) -> None:
    """Write ``result`` to ``path``: Parquet for ``.parquet``/``.pq``, else CSV (TSV for ``.tsv``).

    Parquet holds the whole table. CSV holds the four columns ``row_id, score, label,
    severity`` it always had, so scripts reading it keep working; it is written by
    pyarrow, because pandas ``to_csv`` needs ~10 s for a million rows. The file
    appears complete or not at all (written beside it, then renamed).

    Raises
    ------
    OSError
        When the file cannot be written; nothing is left behind.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.part")
    data = table(result)
    try:
        if target.suffix.lower() in PARQUET_SUFFIXES:
            pq.write_table(data, tmp, compression="zstd")
        else:
            delimiter = "\t" if target.suffix.lower() == ".tsv" else ","
            options = pacsv.WriteOptions(delimiter=delimiter, quoting_style="needed")
            pacsv.write_csv(data.select(list(COLUMNS)), tmp, write_options=options)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- reading
def read(
    source: str | os.PathLike[str] | IO[bytes], columns: Sequence[str] | None = None
) -> pa.Table:
    """A results file as an Arrow table (only ``columns`` when given).

    Raises
    ------
    ResultsFormatError
        When the file lacks ``row_id`` or ``score``.
    """
    pf = pq.ParquetFile(source)
    check_layout(pf.schema_arrow.names)
    return pf.read(columns=list(columns) if columns is not None else None)


def flags(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Which rows ``threshold`` flags (a missing score is never flagged)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(scores, dtype=np.float64) > threshold


def stored_flags(labels: np.ndarray) -> np.ndarray:
    """The flags the file was written with, for a result that has no threshold."""
    return np.asarray(labels).astype(bool)


def with_labels(batch: pa.RecordBatch, threshold: float | None) -> pa.RecordBatch:
    """``batch`` with ``label`` recomputed at ``threshold`` (as stored when None)."""
    names = batch.schema.names
    if threshold is None or LABEL not in names:
        return batch
    label = flags(batch.column(SCORE).to_numpy(zero_copy_only=False), threshold).astype(np.int8)
    return batch.set_column(names.index(LABEL), LABEL, pa.array(label))


def batches(
    pf: pq.ParquetFile, columns: Sequence[str], threshold: float | None, batch_size: int
) -> Iterator[pa.RecordBatch]:
    """The file's ``columns`` batch by batch, labels at ``threshold``."""
    for batch in pf.iter_batches(batch_size=batch_size, columns=list(columns)):
        yield with_labels(batch, threshold)


def escape_cell(value: Any) -> Any:
    """Text cells that a spreadsheet would run as a formula get a leading single quote.

    Only text is escaped: numbers are written as numbers (``-1.5`` stays a negative
    number, not the text ``'-1.5``), because a number cell cannot hold a formula.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(
    pf: pq.ParquetFile, columns: Sequence[str], threshold: float | None, batch_size: int
) -> Iterator[bytes]:
    """The file as spreadsheet-safe CSV, one batch at a time (never the whole file in memory)."""
    return csv_from_batches(columns, batches(pf, columns, threshold, batch_size))


def csv_from_batches(header: Sequence[str], source: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """Record batches (whose columns are ``header``) as spreadsheet-safe CSV, batch by batch."""
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow([escape_cell(c) for c in header])
    yield head.getvalue().encode()
    options = pacsv.WriteOptions(include_header=False)
    for batch in source:
        buf = io.BytesIO()
        pacsv.write_csv(_escaped(batch), buf, options)  # numbers stay numbers, and fast
        yield buf.getvalue()


def _escaped(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with every text cell passed through :func:`escape_cell` (in Arrow)."""
    columns = []
    for column in batch.columns:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.starts_with(column, FORMULA_STARTS[0])
            for start in FORMULA_STARTS[1:]:
                risky = pc.or_(risky, pc.starts_with(column, start))
            quote, empty = pa.scalar("'", column.type), pa.scalar("", column.type)
            column = pc.if_else(risky, pc.binary_join_element_wise(quote, column, empty), column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def write_copy(
    pf: pq.ParquetFile,
    columns: Sequence[str],
    threshold: float | None,
    sink: IO[bytes],
    batch_size: int = 200_000,
) -> None:
    """Write the file's ``columns`` to ``sink`` as Parquet, labels at ``threshold``."""
    empty = pf.schema_arrow.empty_table().select(list(columns)).schema
    parquet_from_batches(batches(pf, columns, threshold, batch_size), sink, empty)


def parquet_from_batches(
    source: Iterable[pa.RecordBatch], sink: IO[bytes], empty: pa.Schema
) -> None:
    """Write record batches to ``sink`` as one Parquet file (``empty``'s schema when none)."""
    writer = None
    for batch in source:
        if writer is None:
            writer = pq.ParquetWriter(sink, batch.schema, compression="zstd")
        writer.write_batch(batch)
    if writer is None:
        pq.write_table(empty.empty_table(), sink)
    else:
        writer.close()


def reasons_text(entries: Sequence[dict[str, Any]]) -> str:
    """One row's reasons as text: ``"x3 (+2.41); x1 (+0.82)"`` (the value as signed 3 digits)."""
    parts = []
    for entry in entries:
        value = entry.get("value")
        parts.append(entry["feature"] if value is None else f"{entry['feature']} ({value:+.3g})")
    return "; ".join(parts)


# ---------------------------------------------------------------- figures from scores
def counts(flagged: np.ndarray) -> dict[str, Any]:
    """rows, anomalies and anomaly_rate of a flag array."""
    n = len(flagged)
    anomalies = int(np.count_nonzero(flagged))
    return {"rows": n, "anomalies": anomalies, "anomaly_rate": anomalies / n if n else 0.0}


def score_range(scores: np.ndarray) -> dict[str, float]:
    """min, max and a slider step (a thousandth of the range, 3 digits) of the finite scores."""
    s = np.asarray(scores, dtype=np.float64)
    finite = s[np.isfinite(s)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    step = (hi - lo) / 1000 if hi > lo else 0.001
    return {"min": lo, "max": hi, "step": float(f"{step:.3g}")}


def slider_stops(scores: np.ndarray, stops: int = 200) -> list[dict[str, float | int]]:
    """Thresholds for a slider that moves in flagged rows on a log scale, not in raw score.

    Stop 0 flags every row, stop ``stops - 1`` one row, the last stop none; between them the
    flagged count falls geometrically, so 1 %, 0.1 % and 0.01 % of the rows each get a usable
    stretch of the track (in raw score, 80 % of the track could flag 0.07 % of the rows).
    Each stop is ``{"threshold", "flagged"}``: the threshold flags ``flagged`` rows (fewer
    when scores tie), because a row is flagged when its score is above the threshold.
    """
    s = np.asarray(scores, dtype=np.float64)
    finite = np.sort(s[np.isfinite(s)])[::-1]  # highest first
    n = len(finite)
    if n == 0:
        return []
    out: list[dict[str, float | int]] = []
    for i in range(stops):
        k = int(round(n ** (1 - i / (stops - 1)))) if stops > 1 else n
        threshold = float(np.nextafter(finite[-1], -np.inf)) if k >= n else float(finite[k])
        out.append({"threshold": threshold, "flagged": min(k, n)})
    out.append({"threshold": float(finite[0]), "flagged": 0})
    return out


def nearest_stop(stops: list[dict[str, float | int]], flagged: int) -> int:
    """The index of the stop whose flagged count is closest to ``flagged`` (on the log scale)."""
    if not stops:
        return 0
    target = np.log1p(max(flagged, 0))
    return int(np.argmin([abs(np.log1p(int(st["flagged"])) - target) for st in stops]))


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def readable(x: float | None, digits: int = 4) -> str:
    """A number as people read it: ``0.01234``, ``12,346``, ``5.07 × 10⁻¹⁷`` — never ``5.072e-17``."""
    if x is None:
        return "—"
    x = float(x)
    if not np.isfinite(x):
        return "∞" if x > 0 else ("−∞" if x < 0 else "—")
    if x == 0:
        return "0"
    magnitude = abs(x)
    if 1e-4 <= magnitude < 1e6:
        exponent = int(np.floor(np.log10(magnitude)))
        decimals = max(0, digits - 1 - exponent)
        text = f"{x:,.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, exponent_text = f"{x:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa} × 10{str(int(exponent_text)).translate(_SUPERSCRIPT)}"


def quantiles(scores: np.ndarray) -> dict[str, float]:
    """min, p25, p50, p75, p90, p99 and max of the finite scores; empty when there are none."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if not len(s):
        return {}
    return dict(zip(QUANTILES, map(float, np.quantile(s, list(QUANTILES.values()))), strict=True))


def top_positions(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` highest scores, highest first (missing scores last)."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    n = min(n, len(s))
    if n <= 0:
        return np.arange(0)
    top = np.argpartition(-s, n - 1)[:n]
    return top[np.argsort(-s[top], kind="stable")]


# ---------------------------------------------------------------- explaining rows
def moments(values: pa.Array | pa.ChunkedArray | np.ndarray) -> tuple[float, float]:
    """Mean and population standard deviation, ignoring missing values (0.0 when undefined)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values.cast(pa.float64())
    else:  # NaN is how numpy spells a missing value
        arr = pa.array(values, from_pandas=True).cast(pa.float64())
    mean = pc.mean(arr).as_py()
    std = pc.stddev(arr, ddof=0).as_py()
    return (mean if mean is not None else 0.0, std if std else 0.0)


def zscores(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(rows × features) z-scores; a constant feature gives 0, a missing value NaN."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z: np.ndarray = (np.asarray(values, dtype=np.float64) - mean) / np.where(
            std > 0, std, np.nan
        )
    z[:, std <= 0] = 0.0
    return z


def top_features(
    matrix: np.ndarray, names: Sequence[str], n: int, *, absolute: bool
) -> list[list[dict[str, Any]]]:
    """Per row, the ``n`` features with the highest value (or ``absolute`` value).

    Each entry is ``{"feature": name, "value": float | None}``; missing values are left out.
    """
    rank = np.nan_to_num(np.abs(matrix) if absolute else matrix, nan=-np.inf)
    top = np.argsort(-rank, axis=1, kind="stable")[:, :n]
    return [
        [
            {"feature": names[j], "value": _finite(matrix[i, j])}
            for j in top[i]
            if np.isfinite(rank[i, j])
        ]
        for i in range(len(matrix))
    ]


def most_deviating(matrix: np.ndarray, n: int) -> np.ndarray:
    """Indices (in column order) of the ``n`` columns with the largest mean |value|."""
    return np.sort(np.argsort(-np.nanmean(np.abs(matrix), axis=0))[:n])


def truth(values: np.ndarray, row_ids: np.ndarray) -> np.ndarray | None:
    """A label column as booleans for the result's rows (nonzero = anomaly); None if not numeric."""
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        return None
    flagged: np.ndarray = np.nan_to_num(values.astype(np.float64))[np.asarray(row_ids)] != 0
    return flagged


# ---------------------------------------------------------------- comparing two results
@dataclass(frozen=True)
class Agreement:
    """Two results on their common rows: the numbers of :func:`pynomaly.evaluate.compare`
    plus rows, only_a, only_b; and both results' scores and flags aligned on those rows."""

    stats: dict[str, Any]
    scores_a: np.ndarray
    scores_b: np.ndarray
    flags_a: np.ndarray
    flags_b: np.ndarray


def agreement(
    ids_a: np.ndarray,
    scores_a: np.ndarray,
    flags_a: np.ndarray,
    ids_b: np.ndarray,
    scores_b: np.ndarray,
    flags_b: np.ndarray,
) -> Agreement:
    """How far two results agree on the rows (by ``row_id``) both scored."""
    common, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    sa, sb = np.asarray(scores_a)[ia], np.asarray(scores_b)[ib]
    fa, fb = np.asarray(flags_a)[ia], np.asarray(flags_b)[ib]
    stats = compare(sa, fa, sb, fb)
    stats.update(
        rows=len(common),
        only_a=stats["flagged_a"] - stats["flagged_both"],
        only_b=stats["flagged_b"] - stats["flagged_both"],
    )
    return Agreement(stats, sa, sb, fa, fb)


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None
