"""Cheap, bounded checks of an untrusted file: what can be judged without parsing it.

Used while an upload request waits, so nothing here may allocate in proportion to what
a file *claims*: magic bytes, declared sizes read from metadata (a Parquet footer, an
Arrow schema, zip entry headers, a sheet's ``<dimension>``, HDF5 dataset shapes), and a
bounded prefix of text files.  A file that passes can still be a bomb; its full parse
happens later, in a process with OS limits (:mod:`pynomaly.sandbox`).
"""

from __future__ import annotations

import csv
import io
import re
import struct
import tempfile
import zipfile
from pathlib import Path

from pynomaly.data._binary import _check_hdf5_dtype, _hdf5_datasets
from pynomaly.data._text import MAX_JSON_DEPTH, json_depth
from pynomaly.data._util import Limits, _check_shape, _decode_sample, _first_line
from pynomaly.errors import DataError, LimitExceeded

# A JSON document up to this size is parsed whole during the check (bounded work); a
# larger one has its prefix checked and is parsed at ingest.
JSON_FULL_CHECK_BYTES = 1 << 20
_MAX_PARQUET_FOOTER = 16 << 20
_MAX_ZIP_ENTRIES = 10_000
# Deflate cannot do better than ~1,032:1; real workbooks compress 5-50:1.  A large entry
# above this ratio is a bomb, not a spreadsheet.
_MAX_ZIP_RATIO = 200
_ZIP_RATIO_FLOOR = 16 << 20
_MAX_HDF5_OBJECTS = 10_000
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB" if n >= 1 << 20 else f"{n / 1024:,.0f} KB"


def check(path: Path, fmt: str, delimiter: str | None, limits: Limits, filename: str) -> None:
    """Raise ``DataError``/``LimitExceeded`` when the file cannot be read within ``limits``."""
    if fmt in ("csv", "tsv", "jsonl"):
        _check_text(path, fmt, limits, filename, delimiter)
    elif fmt == "json":
        _check_json(path, limits, filename)
    elif fmt == "parquet":
        _check_parquet(path, limits)
    elif fmt == "feather":
        _check_feather(path, limits)
    elif fmt == "xlsx":
        _check_zip(path, limits)
    elif fmt == "hdf5":
        _check_hdf5(path, limits)


# ------------------------------------------------------------------------------ text


def _prefix(path: Path, limits: Limits) -> tuple[bytes, bool]:
    with open(path, "rb") as fh:
        head = fh.read(limits.max_line_bytes + 1)
        return head, bool(fh.read(1))


def _check_text(path: Path, fmt: str, limits: Limits, filename: str, delimiter: str | None) -> None:
    head, more = _prefix(path, limits)
    cut = head.rfind(b"\n") + 1
    if more or len(head) > limits.max_line_bytes:
        if cut == 0:
            raise LimitExceeded(
                f"line 1 is longer than {limits.max_line_bytes:,} bytes, the limit for one line"
            )
        head = head[:cut]  # whole lines only
    if fmt != "jsonl":
        text = _decode_sample(head, truncated=False)
        first = next(csv.reader(io.StringIO(text), delimiter=delimiter or ","), [])
        # Before any parse: a 20,000-column header is named as such, not as a sample's count.
        _check_shape(None, len(first), limits, "file has")
    _load_sample(head, fmt, limits, filename)


def _load_sample(data: bytes, fmt: str, limits: Limits, filename: str) -> None:
    from pynomaly.data import load

    with tempfile.TemporaryDirectory(prefix="pynomaly-sample-") as tmp:
        sample = Path(tmp) / ("sample" + Path(filename).suffix.lower()[:10])
        sample.write_bytes(data)
        sample_limits = Limits(
            max_bytes=len(data) + 1,
            max_rows=limits.max_rows,
            max_columns=limits.max_columns,
            max_line_bytes=limits.max_line_bytes,
            max_uncompressed_bytes=limits.max_uncompressed_bytes,
        )
        load(sample, format=fmt, limits=sample_limits, filename=filename, time_column=None)


def _check_json(path: Path, limits: Limits, filename: str) -> None:
    size = path.stat().st_size
    if size <= JSON_FULL_CHECK_BYTES:
        _load_sample(path.read_bytes(), "json", limits, filename)
        return
    with open(path, "rb") as fh:
        head = fh.read(JSON_FULL_CHECK_BYTES)
    depth = json_depth(head)
    if depth > MAX_JSON_DEPTH:
        raise DataError(
            f"JSON is nested {depth:,} levels deep; at most {MAX_JSON_DEPTH} levels can be read"
        )


# --------------------------------------------------------------------------- Parquet


def _check_parquet(path: Path, limits: Limits) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size < 12:
            raise DataError("not a readable Parquet file: it is too short")
        fh.seek(size - 8)
        footer_len, magic = struct.unpack("<I4s", fh.read(8))
    if magic != b"PAR1":
        raise DataError("not a readable Parquet file: it does not end with the Parquet marker")
    if footer_len > min(size - 12, _MAX_PARQUET_FOOTER):
        raise DataError(f"not a readable Parquet file: its footer claims {footer_len:,} bytes")
    try:
        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"not a readable Parquet file: {_first_line(exc)}") from None
    _check_shape(meta.num_rows, len(schema), limits, "file declares")
    declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    rows = sum(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    _check_shape(rows, None, limits, "row groups declare")
    _check_inflated(declared, "the file's row groups declare", limits)


def _check_inflated(declared: int, what: str, limits: Limits) -> None:
    if declared > limits.max_uncompressed_bytes:
        raise LimitExceeded(
            f"{what} {_mb(declared)} of data; at most {_mb(limits.max_uncompressed_bytes)} "
            "can be read"
        )


# --------------------------------------------------------------------------- Feather


def _check_feather(path: Path, limits: Limits) -> None:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic.startswith(b"FEA1"):
        return  # Feather v1 declares nothing cheap to read; the sandboxed parse bounds it
    try:
        with pa.memory_map(str(path)) as source:
            if magic == b"ARROW1":
                reader = ipc.open_file(source)
                _check_shape(None, len(reader.schema), limits, "file declares")
                # Record batch headers only: no buffer is read or decompressed.
                _check_shape(reader.count_rows(), None, limits, "file declares")
            else:  # the stream format declares its schema first; batches are counted later
                _check_shape(None, len(ipc.open_stream(source).schema), limits, "file declares")
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Feather/Arrow file: {_first_line(exc)}") from None


# ----------------------------------------------------------------------------- Excel


def _check_zip(path: Path, limits: Limits) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"the file looks like a ZIP archive but cannot be opened: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > _MAX_ZIP_ENTRIES:
            raise DataError(f"the workbook holds {len(infos):,} parts; that is not a spreadsheet")
        for info in infos:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > _ZIP_RATIO_FLOOR and ratio > _MAX_ZIP_RATIO:
                raise LimitExceeded(
                    f"{info.filename} inflates from {_mb(info.compress_size)} to "
                    f"{_mb(info.file_size)} ({ratio:,.0f}×); refused as a likely zip bomb"
                )
        _check_inflated(sum(i.file_size for i in infos), "the workbook declares", limits)
        for info in infos:
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                _check_dimension(zf, info, limits)


def _check_dimension(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> None:
    # The dimension element sits near the start of a sheet; read a bounded prefix only.
    try:
        with zf.open(info) as fh:
            head = fh.read(64 * 1024)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        raise DataError(f"the workbook is damaged: {_first_line(exc)}") from None
    m = _DIMENSION.search(head)
    if not m:
        return
    last_col, last_row = (m.group(3), m.group(4)) if m.group(3) else (m.group(1), m.group(2))
    columns = 0
    for ch in last_col.decode():
        columns = columns * 26 + ord(ch) - 64
    _check_shape(int(last_row), columns, limits, "sheet declares")


# ------------------------------------------------------------------------------ HDF5


def _check_hdf5(path: Path, limits: Limits) -> None:
    import h5py

    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"not a readable HDF5 file: {_first_line(exc)}") from None
    with fh:
        seen, declared = 0, 0
        for name, ds in _hdf5_datasets(fh, h5py):
            seen += 1
            if seen > _MAX_HDF5_OBJECTS:
                raise DataError(f"the HDF5 file holds more than {_MAX_HDF5_OBJECTS:,} datasets")
            _check_hdf5_dtype(name, ds, h5py)
            if ds.ndim > 2:
                raise DataError(
                    f"dataset {name!r} has more than 2 dimensions; only tables can be read"
                )
            rows = ds.shape[0]
            cols = ds.shape[1] if ds.ndim == 2 else len(ds.dtype.names or ()) or 1
            _check_shape(rows, cols, limits, f"dataset {name!r} declares")
            declared += ds.size * ds.dtype.itemsize
        if not seen:
            raise DataError("the HDF5 file holds no datasets")
        _check_inflated(declared, "the file's datasets declare", limits)
