"""Partitioned scoring on a Dask cluster: data beyond one machine's memory, scored where it lies.

A saved model (``pynomaly train``, a run's trained model) and a Parquet file that every worker
can read (a shared file system or the same path on each host). The rows are cut into
partitions whose boundaries fall on the pipeline's scoring chunks (:meth:`FittedPipeline.
chunk_rows`), so every row meets the same chunk as in a one-process score and the scores are
identical, ECOD/COPOD included. Each task carries only paths, a checksum and a row range:
the worker loads the model itself (checked against its SHA-256, skops' trusted types, never
pickle), reads only the row groups its range overlaps (only the training columns), scores
and sends back scores, labels and severity. Nothing of the data travels through the graph,
and no worker holds more than one partition of rows at a time (``partition_rows``).

``cluster`` is ``"local"`` / ``"local:N"`` (a ``LocalCluster`` of N single-threaded worker
processes, for one machine and tests) or a scheduler address (``tcp://host:8786``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import DataError, EngineError
from .pipeline import FittedPipeline, ScoreResult

DEFAULT_PARTITION_CHUNKS = 5  # chunks per partition: 500k rows with the default 100k chunks


@dataclass(frozen=True)
class Partition:
    start: int
    stop: int


def partitions(n_rows: int, chunk: int, partition_rows: int | None = None) -> list[Partition]:
    """Row ranges of at most ``partition_rows`` (rounded down to whole chunks, at least one)."""
    per = max(1, (partition_rows or chunk * DEFAULT_PARTITION_CHUNKS) // chunk) * chunk
    return [Partition(s, min(s + per, n_rows)) for s in range(0, n_rows, per)]


@dataclass(frozen=True)
class Piece:
    """One partition's :meth:`FittedPipeline.raw_scores` output and who computed it."""

    raw: np.ndarray
    contributions: np.ndarray | None
    worker: str


def write_piece(fh: Any, piece: Piece) -> None:
    """A piece as an ``.npz`` (plain arrays, no pickle) to the binary file ``fh``."""
    arrays: dict[str, Any] = {"raw": piece.raw, "worker": np.array(piece.worker)}
    if piece.contributions is not None:
        arrays["contributions"] = piece.contributions
    np.savez(fh, allow_pickle=False, **arrays)


def read_piece(fh: Any, *, rows: int, detectors: int) -> Piece:
    """A piece written by :func:`write_piece`, checked against the partition it stands for."""
    try:
        with np.load(fh, allow_pickle=False) as npz:
            raw = np.asarray(npz["raw"], dtype=np.float64)
            contributions = npz["contributions"] if "contributions" in npz.files else None
            worker = str(npz["worker"])
    except (OSError, KeyError, ValueError) as exc:
        raise EngineError(f"a scored partition could not be read: {exc}") from None
    if raw.shape != (rows, detectors) or (contributions is not None and len(contributions) != rows):
        raise EngineError(
            f"a scored partition has shape {raw.shape}, expected ({rows}, {detectors})"
        )
    return Piece(raw, contributions, worker)


def join_pieces(
    fitted: FittedPipeline, pieces: list[Piece]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The partitions' pieces in row order as one :meth:`FittedPipeline.raw_scores` output."""
    raw = np.concatenate([p.raw for p in pieces])
    with_contrib = [p.contributions for p in pieces if p.contributions is not None]
    contributions = np.concatenate(with_contrib) if len(with_contrib) == len(pieces) else None
    return raw, contributions


@functools.lru_cache(maxsize=4)
def load_model(path: str, sha256: str | None) -> FittedPipeline:
    """A worker loads each model once (verified), then reuses it for its later partitions."""
    from .persist import load

    return load(path, sha256=sha256)


def read_rows(path: str, start: int, stop: int, columns: list[str]) -> Any:
    """Rows ``[start, stop)`` of a Parquet file, reading only the row groups they lie in."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    groups, first, offset = [], None, 0
    for i in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(i).num_rows
        if offset < stop and offset + n > start:
            groups.append(i)
            first = offset if first is None else first
        offset += n
    table = pf.read_row_groups(groups, columns=columns) if groups else pa.table({})
    base = first or 0
    return table.slice(start - base, stop - start).to_pandas()


def score_partition(
    model_path: str, sha256: str | None, data_path: str, start: int, stop: int, chunk: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The task a worker runs: scores, labels and severity of rows ``[start, stop)``."""
    fitted = load_model(model_path, sha256)
    df = read_rows(data_path, start, stop, list(fitted.preparer.input_columns))
    result = fitted.score(df, chunk_size=chunk)
    return result.scores, result.labels, result.severity


@contextmanager
def connect(cluster: str) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster`` (see the module docstring); closed afterwards."""
    from distributed import Client, LocalCluster

    if cluster == "local" or cluster.startswith("local:"):
        _, _, n = cluster.partition(":")
        try:
            workers = int(n) if n else min(4, os.cpu_count() or 1)
        except ValueError:
            raise EngineError(f"--dask local:N needs a number of workers, not {n!r}") from None
        if workers < 1:
            raise EngineError("--dask local:N needs at least one worker")
        with (
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as lc,
            Client(lc) as client,  # type: ignore[no-untyped-call]
        ):
            yield client
        return
    try:
        client = Client(cluster, timeout=30)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        raise EngineError(f"cannot reach the Dask scheduler {cluster}: {exc}") from None
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]


def score_parquet(
    fitted: FittedPipeline,
    model_path: str,
    data_path: str,
    client: Any,
    *,
    sha256: str | None = None,
    chunk_size: int | None = None,
    partition_rows: int | None = None,
) -> ScoreResult:
    """Score every row of ``data_path`` on the cluster; the same result as ``fitted.score``."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(data_path).metadata
        names = set(pq.read_schema(data_path).names)
    except FileNotFoundError:
        raise DataError(f"file not found: {data_path}") from None
    except OSError as exc:
        raise DataError(f"cannot read Parquet file {data_path}: {exc}") from None
    missing = [c for c in fitted.preparer.input_columns if c not in names]
    if missing:
        raise DataError(f"column '{missing[0]}' used in training is missing", column=missing[0])
    chunk = fitted.chunk_rows(chunk_size)
    parts = partitions(meta.num_rows, chunk, partition_rows)
    model_path, data_path = os.path.abspath(model_path), os.path.abspath(data_path)
    futures = [
        client.submit(
            score_partition, model_path, sha256, data_path, p.start, p.stop, chunk, pure=False
        )
        for p in parts
    ]
    pieces = client.gather(futures)  # in partition order
    if not pieces:
        return fitted._result(np.empty(0), None)
    scores, labels, severity = (np.concatenate([p[i] for p in pieces]) for i in range(3))
    return ScoreResult(
        scores=scores,
        labels=labels,
        severity=severity,
        threshold=float(fitted.threshold_),
        contributions=None,
        feature_names=list(fitted.feature_names),
    )
