"""Parquet, Feather/Arrow, Excel and HDF5 readers: shapes checked from metadata first."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as paipc
import pyarrow.parquet as pq

from pynomaly.data._text import _has_header
from pynomaly.data._util import (
    Limits,
    _check_shape,
    _first_line,
)
from pynomaly.errors import DataError


def _check_xlsx(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"the file looks like a ZIP archive but cannot be opened: {exc}") from None
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise DataError("the file is a ZIP archive but not an Excel .xlsx workbook")


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
        rows: list[tuple[Any, ...]] = []
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


def _hdf5_datasets(group: Any, h5py: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
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


def _check_hdf5_dtype(name: str, ds: Any, h5py: Any) -> None:
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


def _hdf5_frame(
    two_d: list[tuple[str, Any]],
    one_d: list[tuple[str, Any]],
    limits: Limits,
    warnings: list[str],
) -> pd.DataFrame:
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


def _hdf5_column_names(ds: Any, width: int) -> list[str]:
    for key in ("columns", "column_names", "names"):
        raw = ds.attrs.get(key)
        if raw is None:
            continue
        names = [v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(raw)]
        if len(names) == width:
            return names
    return [f"col_{i}" for i in range(1, width + 1)]
