"""The loader's less common paths: Arrow variants, odd workbooks and HDF5 layouts, JSON
shapes, and the refusals a user meets with a broken or unsupported file."""

from __future__ import annotations

import bz2
import gzip
import json
import zipfile

import h5py
import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.feather as paf
import pyarrow.ipc as paipc
import pytest

from pynomaly.data import Limits, load, read_parquet, split_features
from pynomaly.errors import DataError, LimitExceeded

TABLE = pa.table({"temp": [1.0, 2.0, 3.5, 4.0], "load": [3, 1, 4, 1]})


def _refusal(path, **kwargs) -> str:
    with pytest.raises(DataError) as caught:
        load(path, **kwargs)
    return str(caught.value)


# ------------------------------------------------------------------- Arrow / Feather


def test_it_reads_feather_version_1(tmp_path):
    path = tmp_path / "old.feather"
    paf.write_feather(TABLE, path, version=1)

    loaded = load(path)

    assert loaded.format == "feather"
    assert loaded.frame["temp"].tolist() == [1.0, 2.0, 3.5, 4.0]


def test_it_reads_the_arrow_stream_format(tmp_path):
    path = tmp_path / "batches.arrows"
    with pa.OSFile(str(path), "wb") as sink, paipc.new_stream(sink, TABLE.schema) as writer:
        writer.write_table(TABLE)

    loaded = load(path)

    assert loaded.format == "feather"
    assert loaded.frame["load"].tolist() == [3, 1, 4, 1]


def test_it_stops_reading_an_arrow_stream_at_the_row_limit(tmp_path):
    path = tmp_path / "long.arrows"
    with pa.OSFile(str(path), "wb") as sink, paipc.new_stream(sink, TABLE.schema) as writer:
        for _ in range(3):
            writer.write_table(TABLE)

    with pytest.raises(LimitExceeded, match="at least 8 rows; the limit is 5 rows"):
        load(path, limits=Limits(max_rows=5))


def test_it_refuses_a_truncated_arrow_file(tmp_path):
    path = tmp_path / "broken.arrow"
    path.write_bytes(b"ARROW1\x00\x00" + b"\x01" * 40)

    assert "not a readable Feather/Arrow file" in _refusal(path)


def test_it_refuses_a_parquet_file_without_a_valid_footer(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")

    assert "not a readable Parquet file" in _refusal(path)


def test_reading_stored_parquet_names_a_missing_or_broken_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_parquet(tmp_path / "gone.parquet")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="cannot read Parquet file"):
        read_parquet(broken)


# ------------------------------------------------------------------------------ Excel


def _workbook(path, *sheets: list[list]) -> None:
    wb = openpyxl.Workbook()
    for i, rows in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet(f"Sheet{i + 1}")
        for row in rows:
            ws.append(row)
    wb.save(path)


def test_it_reads_the_first_sheet_and_says_the_others_were_ignored(tmp_path):
    path = tmp_path / "book.xlsx"
    _workbook(path, [["a", "b"], [1, 2], [3, 4]], [["other"], [9]])

    loaded = load(path)

    assert loaded.frame.to_dict("list") == {"a": [1, 3], "b": [2, 4]}
    assert any("first sheet" in w for w in loaded.warnings)


def test_it_numbers_the_columns_of_a_sheet_without_header(tmp_path):
    path = tmp_path / "numbers.xlsx"
    _workbook(path, [[1.5, 2], [3.5, 4], [5.5, 6]])

    loaded = load(path)

    assert list(loaded.frame.columns) == ["col_1", "col_2"]
    assert len(loaded.frame) == 3
    assert any("no header row" in w for w in loaded.warnings)


def test_it_refuses_an_empty_sheet(tmp_path):
    path = tmp_path / "empty.xlsx"
    _workbook(path, [])

    assert "the first sheet is empty" in _refusal(path)


def test_it_refuses_a_sheet_over_the_row_limit(tmp_path):
    path = tmp_path / "long.xlsx"
    _workbook(path, [["x"]] + [[i] for i in range(30)])

    with pytest.raises(LimitExceeded, match="the limit is 10 rows"):
        load(path, limits=Limits(max_rows=10))


def test_it_refuses_a_zip_archive_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")

    assert "a ZIP archive but not an Excel .xlsx workbook" in _refusal(path)


def test_it_refuses_a_broken_zip_archive(tmp_path):
    path = tmp_path / "cut.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 30)

    assert "cannot be opened" in _refusal(path)


def test_it_refuses_a_workbook_whose_parts_are_not_excel(tmp_path):
    path = tmp_path / "fake.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "not xml at all")

    assert "not a readable Excel workbook" in _refusal(path)


# ------------------------------------------------------------------------------- HDF5


def test_it_refuses_an_hdf5_file_without_datasets(tmp_path):
    path = tmp_path / "empty.h5"
    with h5py.File(path, "w") as fh:
        fh.create_group("nothing")

    assert "holds no datasets" in _refusal(path)


def test_it_refuses_a_3d_hdf5_dataset(tmp_path):
    path = tmp_path / "cube.h5"
    with h5py.File(path, "w") as fh:
        fh["cube"] = np.zeros((2, 3, 4))

    assert "'cube' has more than 2 dimensions" in _refusal(path)


def test_it_refuses_several_2d_tables_in_one_hdf5_file(tmp_path):
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as fh:
        fh["a"] = np.zeros((4, 2))
        fh["b"] = np.zeros((4, 2))

    assert "several 2-D datasets (a, b)" in _refusal(path)


def test_it_refuses_1d_hdf5_datasets_of_different_lengths(tmp_path):
    path = tmp_path / "ragged.h5"
    with h5py.File(path, "w") as fh:
        fh["x"] = np.arange(5.0)
        fh["y"] = np.arange(7.0)

    assert "different lengths [5, 7]" in _refusal(path)


def test_it_ignores_scalars_and_mismatched_columns_beside_a_table(tmp_path):
    path = tmp_path / "mixed.h5"
    with h5py.File(path, "w") as fh:
        fh["X"] = np.arange(12.0).reshape(6, 2)  # no column names: numbered
        fh["version"] = 3  # a scalar: not a column
        fh["y"] = np.arange(6) % 2
        fh["short"] = np.arange(4.0)

    loaded = load(path)

    assert list(loaded.frame.columns) == ["col_1", "col_2", "y"]
    assert any("ignored dataset 'short'" in w for w in loaded.warnings)


def test_it_reads_the_fields_of_a_1d_record_dataset_as_columns(tmp_path):
    path = tmp_path / "records.h5"
    records = np.array([(1.0, 2), (3.0, 4), (5.0, 6)], dtype=[("temp", "f8"), ("load", "i4")])
    with h5py.File(path, "w") as fh:
        fh["rows"] = records

    loaded = load(path)

    assert loaded.frame.to_dict("list") == {"temp": [1.0, 3.0, 5.0], "load": [2, 4, 6]}


def test_it_refuses_a_2d_record_dataset(tmp_path):
    path = tmp_path / "grid.h5"
    grid = np.zeros((3, 2), dtype=[("a", "f8"), ("b", "f8")])
    with h5py.File(path, "w") as fh:
        fh["grid"] = grid

    assert "2-D table of records" in _refusal(path)


def test_it_refuses_a_broken_hdf5_file(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)

    assert "not a readable HDF5 file" in _refusal(path)


# -------------------------------------------------------------------- refused content


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gzip.compress(b"a,b\n1,2\n", mtime=0), "compressed"),
        (bz2.compress(b"a,b\n1,2\n"), "compressed"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 50, "old Excel .xls"),
        ("a,b\n1,2\n".encode("utf-16"), "UTF-16"),
        (b"", "the file is empty"),
    ],
)
def test_it_says_what_is_wrong_with_an_unsupported_file(tmp_path, content, message):
    path = tmp_path / "upload.dat"
    path.write_bytes(content)

    assert message in _refusal(path)


def test_it_names_a_missing_file_and_a_directory(tmp_path):
    assert "file not found" in _refusal(tmp_path / "nope.csv")
    assert "is a directory" in _refusal(tmp_path)


def test_it_refuses_an_unknown_requested_format(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,b\n1,2\n")

    assert "unknown format 'xml'" in _refusal(path, format="xml")


def test_a_requested_tsv_format_reads_tabs(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("a\tb\n1\t2\n3\t4\n")

    loaded = load(path, format="tsv")

    assert loaded.frame.to_dict("list") == {"a": [1, 3], "b": [2, 4]}


def test_it_renames_empty_and_duplicate_column_names(tmp_path):
    path = tmp_path / "dups.xlsx"
    _workbook(path, [["a", "a", None, "b"], [1, 2, 3, 4], [5, 6, 7, 8]])

    loaded = load(path)

    assert list(loaded.frame.columns) == ["a", "a.1", "col_3", "b"]
    assert any("renamed empty or duplicate column names" in w for w in loaded.warnings)


def test_a_named_time_column_is_parsed_and_refused_when_it_is_not_time(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("when,value,kind\n2024-01-01,1,a\n2024-01-02,2,b\n2024-01-03,3,c\n")

    loaded = load(path, time_column="when")
    assert loaded.time_column == "when"
    assert pd.api.types.is_datetime64_any_dtype(loaded.frame["when"])

    assert "time column 'gone' not found" in _refusal(path, time_column="gone")
    assert "holds numbers, not timestamps" in _refusal(path, time_column="value")
    assert "fewer than 95% of its values are timestamps" in _refusal(path, time_column="kind")


# ------------------------------------------------------------------------ JSON shapes


def _json(tmp_path, obj, name="data.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def test_it_reads_records_wrapped_in_a_data_key(tmp_path):
    path = _json(tmp_path, {"data": [{"a": 1}, {"a": 2}]})

    assert load(path).frame["a"].tolist() == [1, 2]


def test_it_reads_a_json_object_of_columns(tmp_path):
    path = _json(tmp_path, {"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})

    assert load(path).frame.to_dict("list") == {"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]}


def test_it_refuses_json_columns_of_different_lengths(tmp_path):
    path = _json(tmp_path, {"a": [1, 2, 3], "b": [4.0]})

    assert "JSON columns have different lengths: [1, 3]" in _refusal(path)


def test_it_reads_a_single_json_record(tmp_path):
    path = tmp_path / "one.json"
    path.write_text('{\n  "a": 1,\n  "b": 2\n}\n')

    assert load(path).frame.to_dict("list") == {"a": [1], "b": [2]}


def test_it_flattens_nested_json_objects(tmp_path):
    path = _json(tmp_path, [{"id": 1, "pos": {"x": 1.0, "y": 2.0}}, {"id": 2, "pos": {"x": 3.0}}])

    loaded = load(path)

    assert {"pos.x", "pos.y"} <= set(loaded.frame.columns)
    assert any("flattened" in w for w in loaded.warnings)


def test_it_reads_json_rows_given_as_arrays(tmp_path):
    path = _json(tmp_path, [[1, 2], [3, 4], [5, 6]])

    assert list(load(path).frame.columns) == ["col_1", "col_2"]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([[1, 2], [3]], "JSON rows have different lengths"),
        ([{"a": 1}, 7], "JSON record 2 is a int, not an object"),
        ([], "no data rows"),
    ],
)
def test_it_refuses_json_it_cannot_make_a_table_of(tmp_path, obj, message):
    assert message in _refusal(_json(tmp_path, obj))


def test_it_reads_json_lines_whose_first_line_is_an_object(tmp_path):
    path = tmp_path / "events.json"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')

    assert load(path).frame["a"].tolist() == [1, 2]


def test_it_refuses_a_json_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n')

    with pytest.raises(DataError, match="found a list") as caught:
        load(path)
    assert caught.value.line == 2


def test_it_stops_reading_json_lines_at_the_row_limit(tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("".join(f'{{"a": {i}}}\n' for i in range(20)))

    with pytest.raises(LimitExceeded, match="the limit is 5 rows"):
        load(path, limits=Limits(max_rows=5))


def test_it_names_the_line_of_a_latin1_byte_in_json_lines(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "caf\xe9"}\n')

    with pytest.raises(DataError, match="not UTF-8") as caught:
        load(path, format="jsonl")
    assert caught.value.line == 2


# ------------------------------------------------------------------ labels and times


def test_split_features_names_what_is_missing(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]})

    with pytest.raises(DataError, match="label column 'nope' not found"):
        split_features(frame, label_column="nope")
    with pytest.raises(DataError, match="time column 'nope' not found"):
        split_features(frame, time_column="nope")
    with pytest.raises(DataError, match="no feature columns are left"):
        split_features(frame[["y"]], label_column="y")


def test_split_features_refuses_missing_and_single_valued_labels():
    with pytest.raises(DataError, match="has 1 missing values"):
        split_features(pd.DataFrame({"a": [1.0, 2.0], "y": [1.0, None]}), label_column="y")
    with pytest.raises(DataError, match="holds the single value 'ok'"):
        split_features(pd.DataFrame({"a": [1.0, 2.0], "y": ["ok", "ok"]}), label_column="y")


def test_the_rarer_of_two_unnamed_label_values_marks_anomalies():
    frame = pd.DataFrame({"a": range(5), "y": ["blue", "blue", "blue", "red", "blue"]})

    _, labels, _ = split_features(frame, label_column="y")

    assert labels.tolist() == [0, 0, 0, 1, 0]
