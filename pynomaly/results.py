"""A run's results table: its layout, writing and reading it, and what is computed from it.

One file per run (the platform's worker and ``pynomaly detect -o x.parquet`` write the
same one), one row per scored row:

=================  =======  =====================================================
``row_id``         int64    position of the row in the scored data
``score``          float64  higher = more anomalous
``label``          int8     1 when flagged at the threshold the file was written at
``severity``       float64  0-100, the score's place among the training scores
``contrib:<name>`` float64  the feature's contribution to the score, for detectors
                            that offer it (ECOD, COPOD); absent otherwise
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
    """The columns a download carries, in the table's order: the four, then contributions."""
    return [c for c in COLUMNS if c in names] + contribution_columns(names)


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
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([escape_cell(c) for c in columns])
    yield header.getvalue().encode()
    options = pacsv.WriteOptions(include_header=False)
    for batch in batches(pf, columns, threshold, batch_size):
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


def write_copy(
    pf: pq.ParquetFile,
    columns: Sequence[str],
    threshold: float | None,
    sink: IO[bytes],
    batch_size: int = 200_000,
) -> None:
    """Write the file's ``columns`` to ``sink`` as Parquet, labels at ``threshold``."""
    writer = None
    for batch in batches(pf, columns, threshold, batch_size):
        if writer is None:
            writer = pq.ParquetWriter(sink, batch.schema, compression="zstd")
        writer.write_batch(batch)
    if writer is None:
        pq.write_table(pf.schema_arrow.empty_table().select(list(columns)), sink)
    else:
        writer.close()


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
