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
import csv
import io
import json
import os
import re
import tempfile
import warnings as pywarnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as paipc
import pyarrow.parquet as pq

from pynomaly.errors import DataError, LimitExceeded

__all__ = [
    "FORMATS",
    "Limits",
    "LoadedData",
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

_SAMPLE_BYTES = 64 * 1024
_CHUNK_BYTES = 16 * 1024 * 1024
_BOM = codecs.BOM_UTF8
_TIME_HINTS = ("timestamp", "datetime", "time", "date", "ts", "created", "updated", "when")
_POSITIVE = {"1", "true", "yes", "y", "anomaly", "anomalous", "outlier", "abnormal"}
_POSITIVE |= {"fraud", "attack", "malicious", "bad", "positive", "o", "t"}
_NEGATIVE = {"0", "false", "no", "n", "normal", "inlier", "benign", "good", "negative", "ok"}
_NEGATIVE |= {"f", "i"}


@dataclass(frozen=True)
class Limits:
    """Upper bounds for one input file; anything larger is refused before it is read."""

    max_bytes: int = 1 << 30
    max_rows: int = 10_000_000
    max_columns: int = 10_000


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


def _supported() -> str:
    return "supported: " + ", ".join(_NAMES[f] for f in FORMATS)


def _check_xlsx(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"the file looks like a ZIP archive but cannot be opened: {exc}") from None
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise DataError("the file is a ZIP archive but not an Excel .xlsx workbook")


def _decode_sample(head: bytes, *, truncated: bool) -> str:
    data = head[len(_BOM) :] if head.startswith(_BOM) else head
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=not truncated)
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(_BOM) if head.startswith(_BOM) else 0)
        raise _encoding_error(head, offset) from None


def _encoding_error(data: bytes, offset: int, base_offset: int = 0, base_line: int = 1):
    line = base_line + data.count(b"\n", 0, offset)
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return DataError(
        f"the file is not UTF-8 text: byte 0x{data[offset]:02x} at offset {base_offset + offset:,}"
        " cannot be decoded (save the file as UTF-8)",
        line=line,
        column=col,
    )


def _sniff_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not text.endswith("\n"):
        lines = lines[:-1]  # the sample may end mid-line
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        pass
    # Sniffer gives up on uneven quoting; fall back to the most consistent delimiter.
    best, best_score = ",", 0.0
    for d in (",", "\t", ";", "|"):
        counts = [ln.count(d) for ln in lines]
        if counts and min(counts) > 0:
            score = min(counts) / max(counts) + (min(counts) > 0)
            if score > best_score:
                best, best_score = d, score
    return best


def sniff_format(path: str | os.PathLike, filename: str | None = None) -> str:
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
    claimed = fmt or _EXTENSIONS.get(Path(filename or path).suffix.lower())
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


# --------------------------------------------------------------------------- loading


def load(
    path: str | os.PathLike,
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


# ------------------------------------------------------------------------------- CSV


_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|\.\d+)([eE][+-]?\d+)?$|^(nan|inf|-inf|NaN|NA)$")
_DATEISH = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([T ].*)?$|^\d{1,2}:\d{2}(:\d{2}.*)?$")


def _is_value(text: str) -> bool:
    """True when a field reads as data rather than a column name."""
    t = text.strip()
    return not t or bool(_NUMBER.match(t) or _DATEISH.match(t)) or t.lower() in ("true", "false")


def _has_header(rows: list[list[str]]) -> bool:
    first, rest = rows[0], rows[1:]
    if all(_is_value(f) for f in first):
        return False
    for j, name in enumerate(first):
        column = [r[j] for r in rest if j < len(r) and r[j].strip()]
        if not _is_value(name) and column and sum(map(_is_value, column)) > len(column) / 2:
            return True  # a word above numbers: the classic header
    # All-text files get a header; mixed rows that match the data below do not.
    return not any(_is_value(f) for f in first)


def _sample_rows(path: Path, delimiter: str) -> tuple[list[list[str]], str]:
    head = _head(path)
    text = _decode_sample(head, truncated=len(head) == _SAMPLE_BYTES)
    if len(head) == _SAMPLE_BYTES and "\n" in text:
        text = text[: text.rfind("\n") + 1]
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
    if not rows:
        raise DataError("the file has no rows")
    return rows[:200], text


def _read_csv(path: Path, limits: Limits, warnings: list[str], *, delimiter: str) -> pd.DataFrame:
    # pandas' C parser, not pyarrow.csv: measured on this 2-core machine with 1M x 10
    # floats, pyarrow's streaming reader used ~1.5x the CPU time and its one-shot reader
    # twice the peak memory (it keeps the raw text), while nrows= bounds pandas' memory.
    rows, _sample = _sample_rows(path, delimiter)
    header = _has_header(rows)
    ncols = len(rows[0])
    _check_shape(None, ncols, limits, "file has")
    if len(rows) == 1 and header:
        raise DataError("the file has a header but no data rows")
    options: dict = {"sep": delimiter, "encoding": "utf-8", "nrows": limits.max_rows + 1}
    if header:
        options["header"] = 0
    else:
        options.update(header=None, names=[f"col_{i}" for i in range(1, ncols + 1)])
        warnings.append(f"no header row found: columns are named col_1..col_{ncols}")
    if delimiter == ";" and _decimal_comma(rows[1 if header else 0 :]):
        options["decimal"] = ","
    try:
        with pywarnings.catch_warnings():
            pywarnings.simplefilter("ignore", pd.errors.DtypeWarning)
            frame = pd.read_csv(path, **options)
    except UnicodeDecodeError:
        raise _find_bad_utf8(path) or DataError("the file is not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise DataError("the file has no data rows") from None
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise _diagnose_csv(path, delimiter, str(exc)) from None
    if len(frame) > limits.max_rows:
        raise LimitExceeded(
            f"file has more than {limits.max_rows:,} rows; the limit is {limits.max_rows:,} rows"
        )
    # pandas pads a short row with NaN instead of failing; a short row always leaves the
    # last column empty, so only then is the file scanned for the culprit.
    if frame.shape[1] and frame.iloc[:, -1].isna().any():
        ragged = _diagnose_csv(path, delimiter, "", ragged_only=True)
        if ragged is not None:
            raise ragged
    return frame


def _decimal_comma(rows: list[list[str]]) -> bool:
    fields = [f for r in rows[:50] for f in r]
    commas = sum(bool(re.match(r"^-?\d+,\d+$", f.strip())) for f in fields)
    dots = sum(bool(re.match(r"^-?\d+\.\d+$", f.strip())) for f in fields)
    return commas > dots


def _diagnose_csv(path: Path, delimiter: str, parser_msg: str, *, ragged_only: bool = False):
    """Find where a CSV file goes wrong, for a message with a line number."""
    bad = None if ragged_only else _find_bad_utf8(path)
    if bad is not None:
        return bad
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        expected = None
        try:
            for row in reader:
                if not row:
                    continue
                if expected is None:
                    expected = len(row)
                elif len(row) != expected:
                    return DataError(
                        f"ragged row: {len(row)} fields where the first row has {expected}",
                        line=reader.line_num,
                    )
        except csv.Error as exc:
            return DataError(f"malformed CSV: {exc}", line=reader.line_num)
    if ragged_only:
        return None
    return DataError(f"cannot read the CSV file: {_first_line(Exception(parser_msg))}")


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


# --------------------------------------------------------------------------- JSON


def _json_error(exc: json.JSONDecodeError, line_offset: int = 0) -> DataError:
    return DataError(f"malformed JSON: {exc.msg}", line=exc.lineno + line_offset, column=exc.colno)


def _read_json(path: Path, limits: Limits, warnings: list[str]) -> pd.DataFrame:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            obj = json.load(fh)
    except UnicodeDecodeError:
        raise _find_bad_utf8(path) or DataError("the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one object per line, but the first line is long
            return _read_jsonl(path, limits, warnings)
        raise _json_error(exc) from None
    if isinstance(obj, dict):
        for key in ("data", "records", "rows"):
            if isinstance(obj.get(key), list) and len(obj) == 1:
                obj = obj[key]
                break
    if isinstance(obj, dict):
        values = list(obj.values())
        if values and all(isinstance(v, list) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) != 1:
                raise DataError("JSON columns have different lengths: " + str(sorted(lengths)))
            _check_shape(lengths.pop(), len(values), limits, "file has")
            return pd.DataFrame(obj)
        obj = [obj]  # a single record
    if not isinstance(obj, list):
        raise DataError("JSON must be an array of records (objects), one per row")
    return _records_frame(obj, limits, warnings)


def _records_frame(records: list, limits: Limits, warnings: list[str]) -> pd.DataFrame:
    _check_shape(len(records), None, limits, "file has")
    if not records:
        raise DataError("the file has no data rows")
    if all(isinstance(r, dict) for r in records):
        if any(isinstance(v, dict) for r in records[:100] for v in r.values()):
            warnings.append("nested objects were flattened into 'parent.child' columns")
            frame = pd.json_normalize(records)
        else:
            frame = pd.DataFrame.from_records(records)
    elif all(isinstance(r, list) for r in records):
        widths = {len(r) for r in records}
        if len(widths) != 1:
            raise DataError(f"JSON rows have different lengths: {sorted(widths)[:5]}")
        width = widths.pop()
        _check_shape(None, width, limits, "file has")
        frame = pd.DataFrame(records, columns=[f"col_{i}" for i in range(1, width + 1)])
    else:
        bad = next(i for i, r in enumerate(records) if not isinstance(r, dict))
        raise DataError(f"JSON record {bad + 1} is a {type(records[bad]).__name__}, not an object")
    _check_shape(None, frame.shape[1], limits, "file has")
    return frame


def _read_jsonl(path: Path, limits: Limits, warnings: list[str]) -> pd.DataFrame:
    records = []
    decode = json.JSONDecoder().decode
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _encoding_error(raw, exc.start, base_line=lineno) from None
            if lineno == 1:
                text = text.lstrip("\ufeff")
            if not text.strip():
                continue
            try:
                rec = decode(text)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"malformed JSON: {exc.msg}", line=lineno, column=exc.colno
                ) from None
            if not isinstance(rec, dict):
                raise DataError(
                    f"each line must hold one JSON object, found a {type(rec).__name__}",
                    line=lineno,
                )
            records.append(rec)
            if len(records) > limits.max_rows:
                raise LimitExceeded(
                    f"file has more than {limits.max_rows:,} rows; "
                    f"the limit is {limits.max_rows:,} rows"
                )
    return _records_frame(records, limits, warnings)


# ------------------------------------------------------------------- Arrow formats


def _read_parquet_file(path: Path, limits: Limits, warnings: list[str]) -> pd.DataFrame:
    try:
        pf = pq.ParquetFile(path)
        rows, cols = pf.metadata.num_rows, len(pf.schema_arrow)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet file: {_first_line(exc)}") from None
    _check_shape(rows, cols, limits, "file declares")
    try:
        table = pf.read()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"corrupt Parquet file: {_first_line(exc)}") from None
    finally:
        pf.close()
    _check_shape(table.num_rows, None, limits, "file has")
    return table.to_pandas(self_destruct=True, split_blocks=True)


def _read_feather(path: Path, limits: Limits, warnings: list[str]) -> pd.DataFrame:
    with open(path, "rb") as fh:
        magic = fh.read(6)
    try:
        if magic.startswith(b"FEA1"):  # feather v1: no cheap row count; the byte limit holds
            import pyarrow.feather as paf

            table = paf.read_table(path)
        elif magic == b"ARROW1":
            with pa.memory_map(str(path)) as source:
                reader = paipc.open_file(source)
                _check_shape(None, len(reader.schema), limits, "file declares")
                _check_shape(reader.count_rows(), None, limits, "file declares")
                table = reader.read_all()
        else:  # the IPC stream format carries no footer: count while reading
            with pa.memory_map(str(path)) as source:
                reader = paipc.open_stream(source)
                _check_shape(None, len(reader.schema), limits, "file declares")
                batches, rows = [], 0
                for batch in reader:
                    rows += batch.num_rows
                    _check_shape(rows, None, limits, "file has at least")
                    batches.append(batch)
                table = pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Feather/Arrow file: {_first_line(exc)}") from None
    _check_shape(table.num_rows, table.num_columns, limits, "file has")
    return table.to_pandas(self_destruct=True, split_blocks=True)


# ----------------------------------------------------------------------------- Excel


def _read_xlsx(path: Path, limits: Limits, warnings: list[str]) -> pd.DataFrame:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for broken archives
        raise DataError(f"not a readable Excel workbook: {_first_line(exc)}") from None
    try:
        if not wb.worksheets:
            raise DataError("the workbook has no worksheets")
        ws = wb.worksheets[0]
        if len(wb.worksheets) > 1:
            warnings.append(f"read the first sheet {ws.title!r} only")
        # The declared dimension can be missing or stale; trust it only to refuse early.
        _check_shape(ws.max_row, ws.max_column, limits, "sheet declares")
        rows: list[tuple] = []
        for row in ws.iter_rows(values_only=True):
            if row and any(v is not None for v in row):
                rows.append(row)
                if len(rows) > limits.max_rows + 1:
                    _check_shape(len(rows) - 1, None, limits, "sheet has more than")
    finally:
        wb.close()
    if not rows:
        raise DataError("the first sheet is empty")
    width = max(
        (max((i for i, v in enumerate(r) if v is not None), default=-1) + 1 for r in rows),
        default=0,
    )
    rows = [tuple(r[:width]) + (None,) * (width - len(r)) for r in rows]
    texts = [
        ["" if v is None else (v if isinstance(v, str) else "0") for v in r] for r in rows[:200]
    ]
    if _has_header(texts):
        names = ["" if v is None else str(v) for v in rows[0]]
        body = rows[1:]
    else:
        names = [f"col_{i}" for i in range(1, width + 1)]
        body = rows
        warnings.append(f"no header row found: columns are named col_1..col_{width}")
    frame = pd.DataFrame.from_records(body, columns=range(width))
    frame.columns = names
    return frame.infer_objects()


# ------------------------------------------------------------------------------ HDF5


def _read_hdf5(path: Path, limits: Limits, warnings: list[str]) -> pd.DataFrame:
    import h5py

    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"not a readable HDF5 file: {_first_line(exc)}") from None
    with fh:
        datasets = list(_hdf5_datasets(fh, h5py))
        if not datasets:
            raise DataError("the HDF5 file holds no datasets")
        for name, ds in datasets:
            _check_hdf5_dtype(name, ds, h5py)
        two_d = [(n, d) for n, d in datasets if d.ndim == 2]
        one_d = [(n, d) for n, d in datasets if d.ndim == 1]
        if any(d.ndim > 2 for _, d in datasets):
            name = next(n for n, d in datasets if d.ndim > 2)
            raise DataError(f"dataset {name!r} has more than 2 dimensions; only tables can be read")
        if len(two_d) > 1:
            raise DataError(
                "the HDF5 file holds several 2-D datasets ("
                + ", ".join(n for n, _ in two_d)
                + "): keep one table per file"
            )
        try:
            return _hdf5_frame(two_d, one_d, limits, warnings)
        except OSError as exc:  # e.g. a compression filter that is not installed
            raise DataError(f"cannot read HDF5 data: {_first_line(exc)}") from None


def _hdf5_datasets(group, h5py, prefix: str = ""):
    # Follow hard links only: external and soft links could point anywhere on the server.
    for key in group:
        link = group.get(key, getlink=True)
        name = f"{prefix}{key}"
        if not isinstance(link, h5py.HardLink):
            continue
        obj = group[key]
        if isinstance(obj, h5py.Group):
            yield from _hdf5_datasets(obj, h5py, name + "/")
        elif isinstance(obj, h5py.Dataset):
            if obj.is_virtual or obj.external:
                raise DataError(f"dataset {name!r} refers to data outside the file; refused")
            if obj.ndim == 0:
                continue  # a scalar attribute-like value, not a column
            yield name, obj


def _check_hdf5_dtype(name: str, ds, h5py) -> None:
    dt = ds.dtype
    fields = [dt.fields[f][0] for f in dt.names] if dt.names else [dt]
    for sub in fields:
        if (
            sub.kind not in "biuf"
            or h5py.check_vlen_dtype(sub) is not None
            or h5py.check_string_dtype(sub) is not None
        ):
            raise DataError(
                f"dataset {name!r} holds {sub} values; only numeric datasets can be read"
            )


def _hdf5_frame(two_d, one_d, limits: Limits, warnings: list[str]) -> pd.DataFrame:
    columns: dict[str, np.ndarray] = {}
    if two_d:
        name, ds = two_d[0]
        rows, width = ds.shape
        _check_shape(rows, width + len(one_d), limits, "file declares")
        labels = _hdf5_column_names(ds, width)
        data = ds[()]
        if data.dtype.names:
            raise DataError(f"dataset {name!r} is a 2-D table of records; use a 1-D one")
        for j, label in enumerate(labels):
            columns[label] = data[:, j]
    else:
        rows = one_d[0][1].shape[0]
    for name, ds in one_d:
        if ds.shape[0] != rows:
            if two_d:
                warnings.append(f"ignored dataset {name!r}: {ds.shape[0]:,} rows, not {rows:,}")
                continue
            lengths = sorted({d.shape[0] for _, d in one_d})
            raise DataError(f"1-D datasets have different lengths {lengths[:5]}; they must match")
        _check_shape(rows, len(columns) + 1, limits, "file declares")
        values = ds[()]
        if values.dtype.names:
            for f in values.dtype.names:
                columns[f if len(one_d) == 1 else f"{name}.{f}"] = values[f]
        else:
            columns[name] = values
    _check_shape(None, len(columns), limits, "file declares")
    return pd.DataFrame(columns)


def _hdf5_column_names(ds, width: int) -> list[str]:
    for key in ("columns", "column_names", "names"):
        raw = ds.attrs.get(key)
        if raw is None:
            continue
        names = [v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(raw)]
        if len(names) == width:
            return names
    return [f"col_{i}" for i in range(1, width + 1)]


_READERS = {
    "csv": _read_csv,
    "tsv": _read_csv,
    "json": _read_json,
    "jsonl": _read_jsonl,
    "parquet": _read_parquet_file,
    "feather": _read_feather,
    "xlsx": _read_xlsx,
    "hdf5": _read_hdf5,
}


# ------------------------------------------------------------------------ time column


def detect_time_column(df: pd.DataFrame, *, exclude: Iterable[str] = ()) -> str | None:
    """Find the column that holds timestamps, converting it to datetime in ``df``.

    A column of datetime dtype wins; otherwise a text column of which at least 95 % of the
    non-empty values parse as timestamps (columns named like ``time``/``date`` are tried
    first).  Numbers are never taken for timestamps: epoch seconds and plain measurements
    look the same.

    Parameters
    ----------
    df : pandas.DataFrame
        Modified in place when a text column is converted.
    exclude : iterable of str
        Columns that are not candidates (the label column).

    Returns
    -------
    str or None
    """
    skip = set(exclude)
    columns = [c for c in df.columns if c not in skip]
    hinted = sorted(columns, key=lambda c: not any(h in str(c).lower() for h in _TIME_HINTS))
    for col in hinted:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            return col
    for col in hinted:
        s = df[col]
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        converted = _parse_times(s)
        if converted is not None:
            df[col] = converted
            return col
    return None


def _parse_times(s: pd.Series) -> pd.Series | None:
    values = s.dropna()
    if values.empty or not all(isinstance(v, str) for v in values.iloc[:200]):
        return None
    sample = values.iloc[:: max(1, len(values) // 1000)][:1000].astype(str)
    if sample.str.fullmatch(r"\s*[-+]?[\d.,eE]+\s*").mean() > 0.5:
        return None  # numbers stored as text
    for kwargs in ({}, {"format": "ISO8601"}, {"format": "mixed"}):
        parsed = _try_datetime(sample, kwargs)
        if parsed is not None and parsed.notna().mean() >= 0.95:
            full = _try_datetime(s, kwargs)
            if full is not None and full.notna().sum() >= 0.95 * len(values):
                return full
    return None


def _try_datetime(s: pd.Series, kwargs: dict) -> pd.Series | None:
    with pywarnings.catch_warnings():
        pywarnings.simplefilter("ignore")
        for utc in (False, True):
            try:
                return pd.to_datetime(s, errors="coerce", utc=utc, **kwargs)
            except (ValueError, TypeError, OverflowError):
                continue
    return None


def _to_datetime_strict(s: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    if pd.api.types.is_numeric_dtype(s):
        raise DataError(f"time column {name!r} holds numbers, not timestamps")
    for kwargs in ({}, {"format": "ISO8601"}, {"format": "mixed"}):
        parsed = _try_datetime(s, kwargs)
        if parsed is not None and parsed.notna().sum() >= 0.95 * s.notna().sum():
            return parsed
    raise DataError(f"time column {name!r}: fewer than 95% of its values are timestamps")


# ---------------------------------------------------------------------- feature split


def split_features(
    df: pd.DataFrame, *, label_column: str | None = None, time_column: str | None = None
) -> tuple[pd.DataFrame, np.ndarray | None, pd.Series | None]:
    """Separate the model's input columns from ground-truth labels and timestamps.

    Parameters
    ----------
    df : pandas.DataFrame
    label_column : str, optional
        Binary ground truth: 0/1, booleans, or two values of which the one that reads as
        an anomaly (``anomaly``, ``outlier``, ``yes`` ...) or else the rarer one becomes 1.
    time_column : str, optional

    Returns
    -------
    features : pandas.DataFrame
    labels : numpy.ndarray of int64 (1 = anomaly) or None
    time : pandas.Series or None

    Raises
    ------
    DataError
        A named column is missing, or the labels are not binary.
    """
    drop = []
    labels = times = None
    if label_column is not None:
        if label_column not in df.columns:
            raise DataError(f"label column {label_column!r} not found; columns are: {_list(df)}")
        labels = _binary_labels(df[label_column], label_column)
        drop.append(label_column)
    if time_column is not None:
        if time_column not in df.columns:
            raise DataError(f"time column {time_column!r} not found; columns are: {_list(df)}")
        times = df[time_column]
        drop.append(time_column)
    features = df.drop(columns=drop) if drop else df
    if features.shape[1] == 0:
        raise DataError("no feature columns are left after removing the label and time columns")
    return features, labels, times


def _binary_labels(s: pd.Series, name: str) -> np.ndarray:
    missing = int(s.isna().sum())
    if missing:
        raise DataError(f"label column {name!r} has {missing:,} missing values")
    counts = s.value_counts()
    values = list(counts.index)
    if len(values) > 2:
        shown = ", ".join(repr(v) for v in values[:5])
        raise DataError(
            f"label column {name!r} has {len(values)} distinct values ({shown}...); it must be "
            "binary: 0/1, true/false, or two values of which the rarer marks anomalies"
        )
    as_text = {str(v).strip().lower() for v in values}
    if pd.api.types.is_bool_dtype(s) or as_text <= {"0", "1", "0.0", "1.0", "true", "false"}:
        return s.astype(str).str.strip().str.lower().isin(("1", "1.0", "true")).to_numpy(np.int64)
    if len(values) == 1:
        raise DataError(f"label column {name!r} holds the single value {values[0]!r}")
    a, b = values  # counts order: the rarer value is b
    ta, tb = str(a).strip().lower(), str(b).strip().lower()
    if ta in _POSITIVE or tb in _NEGATIVE:
        positive = a
    elif tb in _POSITIVE or ta in _NEGATIVE:
        positive = b
    else:
        positive = b
    return (s == positive).to_numpy(np.int64)


# --------------------------------------------------------------------- canonical I/O


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
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


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file written by :func:`write_parquet` (optionally some columns)."""
    try:
        table = pq.read_table(path, columns=columns)
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except (pa.ArrowException, OSError, KeyError) as exc:
        raise DataError(f"cannot read Parquet file {path}: {_first_line(exc)}") from None
    return table.to_pandas(self_destruct=True, split_blocks=True)
