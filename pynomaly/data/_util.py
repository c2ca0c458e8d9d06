"""Helpers shared by the readers: limits, sampling, encoding diagnosis."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pynomaly.errors import DataError, LimitExceeded

_SAMPLE_BYTES = 64 * 1024
_CHUNK_BYTES = 16 * 1024 * 1024
_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class Limits:
    """Upper bounds for one input file; anything larger is refused before it is read."""

    max_bytes: int = 1 << 30
    max_rows: int = 10_000_000
    max_columns: int = 10_000
    # A text line longer than this is refused before a parser sees it (a 200 MB CSV that
    # is one line would otherwise be held whole, several times over, by the parser).
    max_line_bytes: int = 1 << 20
    # What a container may declare its content to inflate to (zip entries, Parquet
    # row groups, HDF5 datasets): beyond this it cannot be read within the memory limit.
    max_uncompressed_bytes: int = 4 << 30


def _head(path: Path, n: int = _SAMPLE_BYTES) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, not a data file") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def _decode_sample(head: bytes, *, truncated: bool) -> str:
    data = head[len(_BOM) :] if head.startswith(_BOM) else head
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=not truncated)
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(_BOM) if head.startswith(_BOM) else 0)
        raise _encoding_error(head, offset) from None


def _encoding_error(
    data: bytes, offset: int, base_offset: int = 0, base_line: int = 1
) -> DataError:
    line = base_line + data.count(b"\n", 0, offset)
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return DataError(
        f"the file is not UTF-8 text: byte 0x{data[offset]:02x} at offset {base_offset + offset:,}"
        " cannot be decoded (save the file as UTF-8)",
        line=line,
        column=col,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _list(frame: pd.DataFrame, n: int = 20) -> str:
    cols = [str(c) for c in frame.columns[:n]]
    more = f", ... ({frame.shape[1] - n} more)" if frame.shape[1] > n else ""
    return ", ".join(cols) + more


def _check_shape(rows: int | None, cols: int | None, limits: Limits, verb: str) -> None:
    if rows is not None and rows > limits.max_rows:
        raise LimitExceeded(f"{verb} {rows:,} rows; the limit is {limits.max_rows:,} rows")
    if cols is not None and cols > limits.max_columns:
        raise LimitExceeded(f"{verb} {cols:,} columns; the limit is {limits.max_columns:,} columns")


def _check_line_lengths(path: Path, limits: Limits) -> None:
    """Refuse a text file with a line longer than ``limits.max_line_bytes`` (streamed scan)."""
    import numpy as np

    longest = limits.max_line_bytes
    line, carry = 1, 0  # carry: bytes of the current line seen in earlier chunks
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
            if not len(ends):
                carry += len(chunk)
                if carry > longest:
                    break
                continue
            lengths = np.diff(ends, prepend=-1)
            lengths[0] += carry
            over = np.flatnonzero(lengths > longest + 1)  # +1: the newline itself
            if len(over):
                line += int(over[0])
                carry = longest + 1
                break
            line += len(ends)
            carry = len(chunk) - int(ends[-1]) - 1
    if carry > longest:
        raise LimitExceeded(
            f"line {line:,} is longer than {longest:,} bytes, the limit for one line"
        )


def _find_bad_utf8(path: Path) -> DataError | None:
    offset, line, carry = 0, 1, b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK_BYTES)
            data = carry + chunk
            if not data:
                return None
            # Decode whole lines only, so a character is never split between chunks.
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            block, carry = data[:cut], data[cut:]
            start = len(_BOM) if offset == 0 and block.startswith(_BOM) else 0
            try:
                block[start:].decode("utf-8")
            except UnicodeDecodeError as exc:
                return _encoding_error(block, start + exc.start, offset, line)
            offset += len(block)
            line += block.count(b"\n")
            if not chunk:
                return None
