"""Load tabular data files into pandas, safely: the one reader every interface uses.

Uploads from the web, ``pynomaly detect`` on the command line and the benchmark all go
through :func:`load`, so a file is either read the same way everywhere or refused with
the same message.  Untrusted input is the normal case here: sizes are checked before
reading, binary formats are checked against their declared shape before their data is
touched, and every parser failure becomes a :class:`~pynomaly.errors.DataError` that
says what is wrong and where.
"""

from __future__ import annotations

import codecs
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pynomaly.data import _precheck
from pynomaly.data._binary import (
    _check_xlsx,
    _read_feather,
    _read_hdf5,
    _read_parquet_file,
    _read_xlsx,
)
from pynomaly.data._text import (
    SCALAR_JSON,
    _read_csv,
    _read_json,
    _read_jsonl,
    _sniff_delimiter,
)
from pynomaly.data._util import (
    _SAMPLE_BYTES,
    Limits,
    _check_shape,
    _decode_sample,
    _first_line,
    _head,
    _list,
)
from pynomaly.data.columns import _to_datetime_strict, detect_time_column, split_features
from pynomaly.errors import DataError, LimitExceeded

__all__ = [
    "FORMATS",
    "Limits",
    "LoadedData",
    "check_file",
    "detect_time_column",
    "load",
    "read_parquet",
    "sniff_format",
    "split_features",
    "write_parquet",
]

FORMATS = ("csv", "tsv", "json", "jsonl", "parquet", "feather", "xlsx", "hdf5")

_NAMES = {
    "csv": "CSV",
    "tsv": "TSV",
    "json": "JSON",
    "jsonl": "JSON Lines",
    "parquet": "Parquet",
    "feather": "Feather/Arrow",
    "xlsx": "Excel (.xlsx)",
    "hdf5": "HDF5",
}
_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "feather",
    ".arrow": "feather",
    ".ipc": "feather",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
}
# Formats that can stand in for one another: a .csv holding tab-separated text is fine.
_FAMILY = {"csv": "text", "tsv": "text", "json": "json", "jsonl": "json"}


@dataclass
class LoadedData:
    """A table read from a file, plus what the loader found out about it.

    Attributes
    ----------
    frame : pandas.DataFrame
        All columns of the file (label and time columns included).
    format : str
        One of :data:`FORMATS`.
    time_column, label_column : str or None
        The timestamp column (converted to datetime) and the ground-truth column.
    warnings : list of str
        Things the user may want to know (renamed columns, ignored datasets, ...).
    """

    frame: pd.DataFrame
    format: str
    time_column: str | None = None
    label_column: str | None = None
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- sniffing


def _content_format(path: Path, head: bytes) -> tuple[str, str | None]:
    """Return (format, delimiter) judged from the bytes alone."""
    if not head:
        raise DataError("the file is empty")
    if head.startswith(b"PAR1"):
        return "parquet", None
    if head.startswith((b"ARROW1", b"FEA1", b"\xff\xff\xff\xff")):
        return "feather", None
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5", None
    if head.startswith(b"PK\x03\x04"):
        _check_xlsx(path)
        return "xlsx", None
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataError(
            "old Excel .xls workbooks are not supported: save the sheet as .xlsx or CSV"
        )
    if (
        head.startswith(b"\x1f\x8b")
        or head.startswith(b"BZh")
        or head.startswith(b"\x28\xb5\x2f\xfd")
    ):
        raise DataError("the file is compressed: decompress it first (or save it as Parquet)")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError("the file is UTF-16 text: save it as UTF-8")
    if b"\x00" in head:
        raise DataError("the file is binary and not in a supported format (" + _supported() + ")")
    text = _decode_sample(head, truncated=len(head) == _SAMPLE_BYTES)
    stripped = text.lstrip()
    if stripped.startswith("["):
        return "json", None
    if stripped.startswith("{"):
        first, _, rest = stripped.partition("\n")
        try:
            obj = json.loads(first)
        except ValueError:
            return "json", None  # a pretty-printed object spans lines
        return ("jsonl" if isinstance(obj, dict) and rest.strip() else "json"), None
    delimiter = _sniff_delimiter(text)
    return ("tsv" if delimiter == "\t" else "csv"), delimiter


def _is_scalar(head: bytes) -> bool:
    """True when the text is one JSON value that is not an array or object (``42``, ``1e400``)."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    try:
        value, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return False
    return not isinstance(value, (list, dict)) and not text[end:].strip()


def _supported() -> str:
    return "supported: " + ", ".join(_NAMES[f] for f in FORMATS)


def sniff_format(path: str | os.PathLike[str], filename: str | None = None) -> str:
    """Tell the format of a data file from its content, the name being only a hint.

    Parameters
    ----------
    path : path-like
        The file to inspect (only its first bytes are read).
    filename : str, optional
        The name the user gave the file (an upload's original name); defaults to ``path``.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    DataError
        The content is not a supported format, or contradicts the file's extension.
    """
    return _resolve_format(Path(path), None, filename)[0]


def _resolve_format(path: Path, fmt: str | None, filename: str | None) -> tuple[str, str | None]:
    if fmt is not None and fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r} ({_supported()})")
    head = _head(path)
    content, delimiter = _content_format(path, head)
    claimed = fmt or _EXTENSIONS.get(Path(filename or path).suffix.lower()) or ""
    if _FAMILY.get(claimed) == "json" and _FAMILY.get(content) == "text" and _is_scalar(head):
        raise DataError(SCALAR_JSON)
    if claimed and _FAMILY.get(claimed, claimed) != _FAMILY.get(content, content):
        name = f"{filename or path.name!r} is named as {_NAMES[claimed]}"
        if fmt is not None:
            name = f"format {_NAMES[claimed]} was requested"
        raise DataError(
            f"{name}, but the file content is not {_NAMES[claimed]} "
            f"(it looks like {_NAMES[content]})"
        )
    if fmt is not None and fmt != content:
        if fmt == "tsv":
            delimiter = "\t"
        elif fmt == "csv" and delimiter == "\t":
            delimiter = ","
        content = fmt
    return content, delimiter


# --------------------------------------------------------------------------- checking


def check_file(
    path: str | os.PathLike[str],
    *,
    filename: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen, so a shared default is safe
) -> str:
    """Judge an untrusted file with cheap, bounded work only; return its format.

    Reads magic bytes, the sizes a container declares (Parquet footer, Arrow schema,
    zip entries and sheet dimension, HDF5 shapes and dtypes) and a bounded prefix of
    text files (at most ``limits.max_line_bytes`` + 1 bytes), never the data a file
    claims to hold.  Passing does not promise that :func:`load` succeeds within memory:
    parse untrusted files with :mod:`pynomaly.sandbox`.

    Raises
    ------
    DataError
        The file is empty, not a supported format, or malformed where it was looked at.
    LimitExceeded
        A declared or observed size is over ``limits``.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise DataError("the file is empty")
    if size > limits.max_bytes:
        raise LimitExceeded(f"file is {size:,} bytes; the limit is {limits.max_bytes:,} bytes")
    fmt, delimiter = _resolve_format(path, None, filename)
    try:
        _precheck.check(path, fmt, delimiter, limits, filename or path.name)
    except (DataError, MemoryError):
        raise
    except Exception as exc:  # a reader's own failure on a broken header: not a traceback
        raise DataError(f"not a readable {_NAMES[fmt]} file: {_first_line(exc)}") from None
    return fmt


# --------------------------------------------------------------------------- loading


def load(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,  # noqa: A002 - the public keyword is "format"
    limits: Limits = Limits(),  # noqa: B008 - frozen, so a shared default is safe
    filename: str | None = None,
    label_column: str | None = None,
    time_column: str | None = "auto",
) -> LoadedData:
    """Read a data file into a DataFrame, enforcing ``limits`` and reporting problems.

    Parameters
    ----------
    path : path-like
        The file to read.
    format : str, optional
        One of :data:`FORMATS`; sniffed from the content when omitted.
    limits : Limits
        Size bounds; checked before the data is read wherever the format declares them.
    filename : str, optional
        The user's name for the file (an upload's original name), used as a format hint
        and in messages.
    label_column : str, optional
        The ground-truth column; must exist.  It stays in ``frame``.
    time_column : str or None
        ``"auto"`` to look for a timestamp column, a column name, or None for none.

    Returns
    -------
    LoadedData

    Raises
    ------
    DataError
        The file is unreadable or malformed (the message says where).
    LimitExceeded
        The file is over one of ``limits``.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"file not found: {filename or path}") from None
    if size > limits.max_bytes:
        raise LimitExceeded(f"file is {size:,} bytes; the limit is {limits.max_bytes:,} bytes")
    fmt, delimiter = _resolve_format(path, format, filename)
    warnings: list[str] = []
    reader = _READERS[fmt]
    try:
        if fmt in ("csv", "tsv"):
            frame = reader(path, limits, warnings, delimiter=delimiter)
        else:
            frame = reader(path, limits, warnings)
    except (DataError, MemoryError):
        raise
    except Exception as exc:  # a parser we did not anticipate: still no traceback
        raise DataError(f"cannot read the file as {_NAMES[fmt]}: {_first_line(exc)}") from exc

    frame = _tidy_columns(frame, warnings)
    _check_shape(len(frame), frame.shape[1], limits, "file has")
    if len(frame) == 0:
        raise DataError("the file has no data rows")

    if label_column is not None and label_column not in frame.columns:
        raise DataError(f"label column {label_column!r} not found; columns are: {_list(frame)}")
    found_time = None
    if time_column == "auto":
        found_time = detect_time_column(frame, exclude=(label_column,) if label_column else ())
    elif time_column is not None:
        if time_column not in frame.columns:
            raise DataError(f"time column {time_column!r} not found; columns are: {_list(frame)}")
        frame[time_column] = _to_datetime_strict(frame[time_column], time_column)
        found_time = time_column
    return LoadedData(frame, fmt, found_time, label_column, warnings)


def _tidy_columns(frame: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """Make column names unique non-empty strings (downstream code relies on it)."""
    names, seen, changed = [], set(), []
    for i, col in enumerate(frame.columns, start=1):
        name = "" if col is None else str(col).strip()
        base = name or f"col_{i}"
        new, k = base, 1
        while new in seen:
            new, k = f"{base}.{k}", k + 1
        seen.add(new)
        names.append(new)
        if new != name:
            changed.append(f"{name!r}→{new!r}" if name else new)
    if changed:
        warnings.append("renamed empty or duplicate column names: " + ", ".join(changed[:10]))
    if list(frame.columns) != names:
        frame.columns = names
    return frame


_READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "csv": _read_csv,
    "tsv": _read_csv,
    "json": _read_json,
    "jsonl": _read_jsonl,
    "parquet": _read_parquet_file,
    "feather": _read_feather,
    "xlsx": _read_xlsx,
    "hdf5": _read_hdf5,
}


# --------------------------------------------------------------------- canonical I/O


def write_parquet(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``df`` as Parquet atomically (a reader never sees a half-written file)."""
    path = Path(path)
    table = pa.Table.from_pandas(df, preserve_index=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_parquet(path: str | os.PathLike[str], columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file written by :func:`write_parquet` (optionally some columns)."""
    try:
        table = pq.read_table(path, columns=columns)
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except (pa.ArrowException, OSError, KeyError) as exc:
        raise DataError(f"cannot read Parquet file {path}: {_first_line(exc)}") from None
    return table.to_pandas(self_destruct=True, split_blocks=True)
