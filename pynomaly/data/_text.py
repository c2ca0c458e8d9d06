"""CSV/TSV and JSON/JSON Lines readers: sniffing, parsing, errors with line numbers."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings as pywarnings
from pathlib import Path
from typing import Any

import pandas as pd

from pynomaly.data._util import (
    _SAMPLE_BYTES,
    Limits,
    _check_line_lengths,
    _check_shape,
    _decode_sample,
    _encoding_error,
    _find_bad_utf8,
    _first_line,
    _head,
)
from pynomaly.errors import DataError, LimitExceeded


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
    _check_line_lengths(path, limits)
    with open(path, "rb") as fh:  # the whole first line, not a sample's share of it
        first = fh.readline(limits.max_line_bytes + 1).decode("utf-8", errors="replace")
    _check_shape(None, len(next(csv.reader([first], delimiter=delimiter), [])), limits, "file has")
    rows, _sample = _sample_rows(path, delimiter)
    header = _has_header(rows)
    ncols = len(rows[0])
    _check_shape(None, ncols, limits, "file has")
    if len(rows) == 1 and header:
        raise DataError("the file has a header but no data rows")
    options: dict[str, Any] = {"sep": delimiter, "encoding": "utf-8", "nrows": limits.max_rows + 1}
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
        diagnosis = _diagnose_csv(path, delimiter, str(exc))
        assert diagnosis is not None  # only a ragged_only scan can find nothing
        raise diagnosis from None
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


def _diagnose_csv(
    path: Path, delimiter: str, parser_msg: str, *, ragged_only: bool = False
) -> DataError | None:
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


# --------------------------------------------------------------------------- JSON


def _json_error(exc: json.JSONDecodeError, line_offset: int = 0) -> DataError:
    return DataError(f"malformed JSON: {exc.msg}", line=exc.lineno + line_offset, column=exc.colno)


# Deeper than this is not a table; Python's own parser would stop near 1,000 levels with a
# RecursionError, and flattening nested objects recurses again.
MAX_JSON_DEPTH = 64
_DEPTH_SAMPLE = 1 << 20


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DataError(f"duplicate key {key!r} in a JSON object")
            seen.add(key)
    return obj


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise DataError(f"the JSON number {text[:40]} is out of range (not a finite number)")
    return value


def _constant(name: str) -> float:
    if name == "NaN":
        return float("nan")  # read as a missing value, as pandas writes it
    raise DataError(f"the JSON value {name} is not a finite number")


# Strict where the standard library is lenient: duplicate keys would silently keep the
# last value, and 1e400 would become an infinity that nothing downstream can use.
STRICT_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_float=_finite_float, parse_constant=_constant
)


def json_depth(text: str | bytes) -> int:
    """Deepest nesting of ``[``/``{`` in (a prefix of) a JSON text, strings ignored."""
    import numpy as np

    data = text.encode() if isinstance(text, str) else text
    data = re.sub(rb'"(?:[^"\\]|\\.)*"', b"", data)
    arr = np.frombuffer(data, dtype=np.uint8)
    step = np.isin(arr, (0x5B, 0x7B)).astype(np.int64) - np.isin(arr, (0x5D, 0x7D))
    return int(np.cumsum(step).max(initial=0))


def _check_depth(text: str) -> None:
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise DataError(
            f"JSON is nested {depth:,} levels deep; at most {MAX_JSON_DEPTH} levels can be read"
        )


def _decode(text: str) -> Any:
    try:
        return STRICT_DECODER.decode(text)
    except RecursionError:
        raise DataError(
            f"JSON is nested too deeply; at most {MAX_JSON_DEPTH} levels can be read"
        ) from None


def _read_json(path: Path, limits: Limits, warnings: list[str]) -> pd.DataFrame:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise _find_bad_utf8(path) or DataError("the file is not UTF-8 text") from None
    _check_depth(text[:_DEPTH_SAMPLE])  # cheap; deeper nesting later ends as RecursionError
    try:
        obj = _decode(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one object per line, but the first line is long
            del text
            return _read_jsonl(path, limits, warnings)
        raise _json_error(exc) from None
    del text
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
        raise DataError(SCALAR_JSON)
    return _records_frame(obj, limits, warnings)


SCALAR_JSON = (
    "JSON must be an array of objects (one per row) or an object of columns, not a single value"
)


def _records_frame(records: list[Any], limits: Limits, warnings: list[str]) -> pd.DataFrame:
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
    longest = limits.max_line_bytes
    with open(path, "rb") as fh:
        lineno = 0
        # readline with a bound: one 200 MB line is refused, never held whole.
        while raw := fh.readline(longest + 2):
            lineno += 1
            if len(raw) > longest + 1 or (len(raw) == longest + 1 and not raw.endswith(b"\n")):
                raise LimitExceeded(
                    f"line {lineno:,} is longer than {longest:,} bytes, the limit for one line"
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _encoding_error(raw, exc.start, base_line=lineno) from None
            if lineno == 1:
                text = text.lstrip("\ufeff")
            if not text.strip():
                continue
            try:
                rec = _decode(text)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"malformed JSON: {exc.msg}", line=lineno, column=exc.colno
                ) from None
            except DataError as exc:
                raise DataError(exc.message, line=lineno) from None
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
