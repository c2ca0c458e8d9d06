"""Functions the sandbox tests run in a limited child (imported there by name)."""

from __future__ import annotations

import time

from pynomaly import data
from pynomaly.errors import DataError


def shape(*, path: str, limits: dict) -> dict:
    frame = data.load(path, limits=data.Limits(**limits), time_column=None).frame
    return {"rows": len(frame), "columns": frame.shape[1]}


def allocate(*, mb: int) -> int:
    block = bytearray(mb << 20)
    return len(block)


def spin(*, seconds: float) -> int:
    end, n = time.process_time() + seconds, 0
    while time.process_time() < end:
        n += 1
    return n


def sleep(*, seconds: float) -> None:
    time.sleep(seconds)


def refuse(*, message: str) -> None:
    raise DataError(message)


def crash() -> None:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)


def unserialisable() -> object:
    return object()


def decode(*, path: str) -> int:
    """Read a Parquet column and decode its dictionary (as a reader that wants plain text would)."""
    import pyarrow.parquet as pq

    column = pq.read_table(path).column(0).combine_chunks()
    return len(column.dictionary_decode())
