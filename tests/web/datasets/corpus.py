"""A hostile corpus: small files (on disk) that lie about, or explode into, far more data.

Each ``Case`` names a file, how to make it, and what a user must see: refused at upload
(status + message, nothing stored), accepted then failed at ingest inside the sandbox
(a failed dataset with the message), or accepted and read correctly.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REFUSED, FAILED, ACCEPTED = "refused", "failed", "accepted"
LINE_LIMIT = 1 << 20


@dataclass(frozen=True)
class Case:
    id: str
    filename: str
    make: Callable[[Path], None]
    outcome: str
    status: int
    message: str
    settings: dict = field(default_factory=dict)


# ------------------------------------------------------------------ makers


def _text(content: str | bytes) -> Callable[[Path], None]:
    data = content.encode() if isinstance(content, str) else content
    return lambda path: path.write_bytes(data)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def lying_parquet(claim: int, rows: int = 1000) -> Callable[[Path], None]:
    """A valid Parquet file whose footer (file and row group) claims ``claim`` rows."""

    def make(path: Path) -> None:
        pq.write_table(pa.table({"a": np.arange(rows), "b": np.full(rows, 1.5)}), path)
        data = path.read_bytes()
        size = struct.unpack("<I", data[-8:-4])[0]
        footer = data[-8 - size : -8]
        # Thrift compact: field 3 (num_rows, i64) after field 2 is 0x16, then a zigzag varint.
        old, new = b"\x16" + _varint(rows << 1), b"\x16" + _varint(claim << 1)
        assert footer.count(old) >= 2
        footer = footer.replace(old, new)
        path.write_bytes(data[: -8 - size] + footer + struct.pack("<I", len(footer)) + b"PAR1")
        assert pq.read_metadata(path).num_rows == claim

    return make


def dictionary_bomb(path: Path) -> None:
    """3 KB of Parquet: one 10 KB string, dictionary-encoded a million times (10 GB in memory)."""
    indices = pa.array(np.zeros(1_000_000, dtype=np.int32))
    column = pa.DictionaryArray.from_arrays(indices, pa.array(["x" * 10_000]))
    pq.write_table(pa.table({"a": column}), path)


def _workbook_parts() -> dict[str, bytes]:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["a"])
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def xlsx(rows: int, row_xml: bytes | None = None, dimension: str | None = None):
    """A workbook whose first sheet is written directly: ``rows`` copies of one row."""

    def make(path: Path) -> None:
        row = row_xml or b"<row>" + b"<c><v>1</v></c>" * 10 + b"</row>"
        head = (
            b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
            b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        )
        if dimension:
            head += f'<dimension ref="{dimension}"/>'.encode()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
            for name, data in _workbook_parts().items():
                if name != "xl/worksheets/sheet1.xml":
                    out.writestr(name, data)
                    continue
                with out.open(name, "w", force_zip64=True) as fh:
                    fh.write(head + b"<sheetData>")
                    block = row * 1000 if rows >= 1000 else b""
                    for _ in range(rows // 1000):
                        fh.write(block)
                    fh.write(row * (rows % 1000) + b"</sheetData></worksheet>")

    return make


def slow_xlsx(path: Path) -> None:
    """150,000 rows of distinct numbers: a real workbook that takes seconds of CPU to read."""
    rng = np.random.default_rng(0)
    rows = []
    for values in rng.integers(0, 10**6, size=(150_000, 8)):
        rows.append("<row>" + "".join(f"<c><v>{v}</v></c>" for v in values) + "</row>")
    xlsx(1, row_xml="".join(rows).encode())(path)


def hdf5(kind: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        import h5py

        with h5py.File(path, "w") as fh:
            if kind == "strings":
                fh.create_dataset(
                    "names", data=np.array(["a", "b"], dtype=object), dtype=h5py.string_dtype()
                )
            elif kind == "vlen":
                ds = fh.create_dataset("ragged", (2,), dtype=h5py.vlen_dtype(np.int32))
                ds[0], ds[1] = [1, 2, 3], [4]
            elif kind == "rows":
                fh.create_dataset("table", shape=(20_000_000, 3), dtype="f8", chunks=(1000, 3))
            elif kind == "bytes":
                fh.create_dataset(
                    "table",
                    shape=(9_000_000, 9_000),
                    dtype="f8",
                    chunks=(100, 100),
                    compression="gzip",
                )

    return make


def arrow_rows(path: Path) -> None:
    """An Arrow IPC file of 11M null values: nulls have no buffers, so it is tiny."""
    table = pa.table({"a": pa.nulls(11_000_000)})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def long_line_later(path: Path) -> None:
    """Fine for its first 2 MB (the upload's prefix), then one 3 MB line."""
    with open(path, "w") as fh:
        fh.write("a,b\n" + "1,2\n" * 500_000 + "3," + "4" * (3 << 20) + "\n5,6\n")


def deep_json_later(path: Path) -> None:
    records = ",".join(f'{{"a": {i}}}' for i in range(150_000))
    path.write_text("[" + records + ', {"b": ' + "[" * 5000 + "]" * 5000 + "}]")


def big_json_with(value: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        records = ",".join(f'{{"a": {i}}}' for i in range(150_000))
        path.write_text("[" + records + ', {"a": ' + value + "}]")

    return make


def zip_of(name: str, data: bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(name, data)

    return make


CSV = "a,b\n1,2\n3,4\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
LINE_MESSAGE = f"is longer than {LINE_LIMIT:,} bytes, the limit for one line"
SMALL_MEMORY = {"PYNOMALY_PARSE_MAX_MEMORY_MB": 1024}

CASES = [
    # ---- refused during the upload request: cheap, bounded checks
    Case("empty", "empty.csv", _text(b""), REFUSED, 400, "The submitted file is empty."),
    Case(
        "header-only", "header.csv", _text("a,b,c\n"), REFUSED, 400, "has a header but no data rows"
    ),
    Case(
        "utf-16",
        "utf16.csv",
        _text(codecs.BOM_UTF16_LE + CSV.encode("utf-16-le")),
        REFUSED,
        400,
        "UTF-16 text: save it as UTF-8",
    ),
    Case(
        "png-named-csv",
        "photo.csv",
        _text(PNG + b"\x00" * 64),
        REFUSED,
        400,
        "binary and not in a supported format",
    ),
    Case(
        "csv-named-parquet",
        "table.parquet",
        _text(CSV),
        REFUSED,
        400,
        "is named as Parquet, but the file content is not Parquet (it looks like CSV)",
    ),
    Case("nul-bytes", "nul.csv", _text("a,b\n1,2\n3,\x004\n"), REFUSED, 400, "binary"),
    Case(
        "gzip-bomb",
        "data.csv.gz",
        _text(gzip.compress(b"1,2\n" * 25_000_000)),
        REFUSED,
        400,
        "the file is compressed: decompress it first",
    ),
    Case(
        "gzip-named-csv", "data.csv", _text(gzip.compress(CSV.encode())), REFUSED, 400, "compressed"
    ),
    Case("bzip2", "data.csv", _text(bz2.compress(CSV.encode())), REFUSED, 400, "compressed"),
    Case(
        "old-xls",
        "old.xls",
        _text(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504),
        REFUSED,
        400,
        ".xls workbooks are not supported",
    ),
    Case(
        "zip-not-xlsx",
        "book.xlsx",
        zip_of("readme.txt", b"hello"),
        REFUSED,
        400,
        "not an Excel .xlsx workbook",
    ),
    Case(
        "20000-columns",
        "wide.csv",
        _text(",".join(f"c{i}" for i in range(20_000)) + "\n" + ",".join(["1"] * 20_000) + "\n"),
        REFUSED,
        422,
        "file has 20,000 columns; the limit is 10,000 columns",
    ),
    Case(
        "long-first-line",
        "line.csv",
        _text("1," * (3 << 19)),
        REFUSED,
        422,
        "line 1 " + LINE_MESSAGE,
    ),
    Case(
        "parquet-lying-footer",
        "footer.parquet",
        lying_parquet(2 * 10**12),
        REFUSED,
        422,
        "file declares 2,000,000,000,000 rows; the limit is 10,000,000 rows",
    ),
    Case(
        "xlsx-zip-bomb",
        "bomb.xlsx",
        xlsx(1_000_000, dimension="A1:J1000000"),
        REFUSED,
        422,
        "refused as a likely zip bomb",
    ),
    Case(
        "xlsx-dimension",
        "dimension.xlsx",
        xlsx(1, dimension="A1:C20000000"),
        REFUSED,
        422,
        "sheet declares 20,000,000 rows",
    ),
    Case(
        "arrow-11m-rows", "nulls.arrow", arrow_rows, REFUSED, 422, "file declares 11,000,000 rows"
    ),
    Case(
        "parquet-truncated",
        "cut.parquet",
        _text(b"PAR1" + b"\x01" * 100),
        REFUSED,
        400,
        "not a readable Parquet file",
    ),
    Case(
        "hdf5-strings",
        "strings.h5",
        hdf5("strings"),
        REFUSED,
        400,
        "only numeric datasets can be read",
    ),
    Case("hdf5-vlen", "vlen.h5", hdf5("vlen"), REFUSED, 400, "only numeric datasets can be read"),
    Case(
        "hdf5-20m-rows",
        "rows.h5",
        hdf5("rows"),
        REFUSED,
        422,
        "dataset 'table' declares 20,000,000 rows",
    ),
    Case(
        "hdf5-600gb",
        "bytes.h5",
        hdf5("bytes"),
        REFUSED,
        422,
        "MB of data; at most 4,096 MB can be read",
    ),
    Case(
        "json-1e400",
        "big.json",
        _text('[{"a": 1e400}]'),
        REFUSED,
        400,
        "the JSON number 1e400 is out of range (not a finite number)",
    ),
    Case(
        "json-infinity",
        "inf.json",
        _text('[{"a": Infinity}]'),
        REFUSED,
        400,
        "the JSON value Infinity is not a finite number",
    ),
    Case(
        "json-scalar",
        "n.json",
        _text("42\n"),
        REFUSED,
        400,
        "JSON must be an array of objects (one per row) or an object of columns",
    ),
    Case(
        "json-scalar-1e400",
        "n.json",
        _text("1e400"),
        REFUSED,
        400,
        "JSON must be an array of objects",
    ),
    Case(
        "json-duplicate-keys",
        "dup.json",
        _text('[{"a": 1, "b": 2, "a": 3}]'),
        REFUSED,
        400,
        "duplicate key 'a' in a JSON object",
    ),
    Case(
        "jsonl-duplicate-keys",
        "dup.jsonl",
        _text('{"a": 1}\n{"a": 2, "a": 3}\n'),
        REFUSED,
        400,
        "duplicate key 'a' in a JSON object (line 2)",
    ),
    Case(
        "json-deep",
        "deep.json",
        _text("[" * 100_000 + "]" * 100_000),
        REFUSED,
        400,
        "JSON is nested 100,000 levels deep; at most 64 levels can be read",
    ),
    # ---- accepted, and read as they are
    Case("utf-8-bom", "bom.csv", _text(codecs.BOM_UTF8 + CSV.encode()), ACCEPTED, 302, ""),
    Case(
        "formula-cells",
        "formula.csv",
        _text("name,value\n\"=cmd|' /C calc'!A0\",1\n@SUM(A1),2\nplain,3\n"),
        ACCEPTED,
        302,
        "",
    ),
    Case("path-traversal", "../../etc/passwd.csv", _text(CSV), ACCEPTED, 302, ""),
    Case("windows-path", "..\\..\\boot\\evil.csv", _text(CSV), ACCEPTED, 302, ""),
    Case("300-char-name", "数" * 300 + ".csv", _text(CSV), ACCEPTED, 302, ""),
    Case("control-chars-name", "re\x1bport\x07\u200b.csv", _text(CSV), ACCEPTED, 302, ""),
    Case(
        "parquet-footer-within-limits",
        "within.parquet",
        lying_parquet(5_000_000),
        ACCEPTED,
        302,
        "",
    ),
    # ---- accepted by the cheap checks, stopped by the ingest sandbox
    Case(
        "parquet-dictionary-bomb",
        "dict.parquet",
        dictionary_bomb,
        FAILED,
        302,
        "the file needs more than 1024 MB to read",
        SMALL_MEMORY,
    ),
    Case(
        "long-line-later", "later.csv", long_line_later, FAILED, 302, "line 500,002 " + LINE_MESSAGE
    ),
    Case(
        "json-deep-later",
        "deeplater.json",
        deep_json_later,
        FAILED,
        302,
        "JSON is nested too deeply",
    ),
    Case(
        "json-1e400-later",
        "later.json",
        big_json_with("1e400"),
        FAILED,
        302,
        "the JSON number 1e400 is out of range",
    ),
    Case(
        "xlsx-slow",
        "slow.xlsx",
        slow_xlsx,
        FAILED,
        302,
        "reading took longer than 2 CPU seconds",
        {"PYNOMALY_PARSE_MAX_CPU_SECONDS": 2},
    ),
]
