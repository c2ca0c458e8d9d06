"""The loader reads every supported format and refuses bad files with a useful message."""

from __future__ import annotations

import struct

import h5py
import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pynomaly import data
from pynomaly.data import Limits, detect_time_column, load, sniff_format, split_features
from pynomaly.errors import DataError, LimitExceeded


@pytest.fixture
def frame() -> pd.DataFrame:
    n = 60
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="h").astype(str),
            "temp": np.linspace(10.0, 20.0, n),
            "load": np.arange(n) % 7,
            "site": ["north", "south", "east"] * (n // 3),
            "is_anomaly": [1 if i % 10 == 0 else 0 for i in range(n)],
        }
    )


def _write(frame: pd.DataFrame, path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif fmt == "json":
        frame.to_json(path, orient="records")
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "feather":
        frame.to_feather(path)
    elif fmt == "xlsx":
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            ws.append(list(row))
        wb.save(path)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "parquet", "feather", "xlsx"])
def test_it_reads_a_good_file_in_each_tabular_format(tmp_path, frame, fmt):
    path = tmp_path / f"sensors.{fmt}"
    _write(frame, path, fmt)

    loaded = load(path, label_column="is_anomaly")

    assert loaded.format == fmt
    assert sniff_format(path) == fmt
    assert list(loaded.frame.columns) == list(frame.columns)
    assert len(loaded.frame) == len(frame)
    np.testing.assert_allclose(loaded.frame["temp"].to_numpy(float), frame["temp"])
    assert list(loaded.frame["site"]) == list(frame["site"])
    assert loaded.time_column == "timestamp"
    assert loaded.label_column == "is_anomaly"


def test_it_sniffs_the_format_from_content_when_the_name_says_nothing(tmp_path, frame):
    path = tmp_path / "upload.bin"
    frame.to_parquet(path)

    assert load(path).format == "parquet"
    assert sniff_format(tmp_path / "upload.bin", filename="data.parquet") == "parquet"


def test_it_reads_hdf5_numeric_datasets_as_columns(tmp_path):
    path = tmp_path / "adbench.h5"
    X = np.random.default_rng(0).random((40, 3))
    with h5py.File(path, "w") as fh:
        fh["X"] = X
        fh["X"].attrs["columns"] = ["a", "b", "c"]
        fh["y"] = np.arange(40) % 2

    loaded = load(path, label_column="y")

    assert loaded.format == "hdf5"
    assert list(loaded.frame.columns) == ["a", "b", "c", "y"]
    np.testing.assert_array_equal(loaded.frame[["a", "b", "c"]].to_numpy(), X)


def test_it_reads_equal_length_1d_hdf5_datasets_as_columns(tmp_path):
    path = tmp_path / "cols.hdf5"
    with h5py.File(path, "w") as fh:
        fh["sensor/temp"] = np.arange(5.0)
        fh["sensor/load"] = np.arange(5)

    assert sorted(load(path).frame.columns) == ["sensor/load", "sensor/temp"]


def test_it_refuses_hdf5_with_an_object_dtype_dataset(tmp_path):
    path = tmp_path / "pickles.h5"
    with h5py.File(path, "w") as fh:
        fh["x"] = np.arange(3.0)
        fh["notes"] = np.array(["a", "b", "c"], dtype=object)

    with pytest.raises(DataError, match="'notes'.*only numeric datasets"):
        load(path)


def test_it_does_not_follow_external_links_in_hdf5(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as fh:
        fh["secret"] = np.arange(3.0)
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as fh:
        fh["x"] = np.arange(3.0)
        fh["leak"] = h5py.ExternalLink(str(other), "/secret")

    assert list(load(path).frame.columns) == ["x"]


def test_it_reads_a_csv_without_header_as_numbered_columns(tmp_path):
    path = tmp_path / "raw.csv"
    path.write_text("1.5,2,3\n4,5.5,6\n7,8,9.5\n")

    loaded = load(path)

    assert list(loaded.frame.columns) == ["col_1", "col_2", "col_3"]
    assert len(loaded.frame) == 3
    assert any("no header" in w for w in loaded.warnings)


def test_it_accepts_a_utf8_byte_order_mark(tmp_path):
    path = tmp_path / "excel-export.csv"
    path.write_bytes(b"\xef\xbb\xbfname,value\nm\xc3\xbcnchen,1\n")

    loaded = load(path)

    assert list(loaded.frame.columns) == ["name", "value"]
    assert loaded.frame["name"][0] == "münchen"


def test_it_sniffs_semicolons_and_decimal_commas(tmp_path):
    path = tmp_path / "european.csv"
    path.write_text("a;b\n1,5;2,25\n3,0;4,75\n")

    frame = load(path).frame

    assert frame["a"].tolist() == [1.5, 3.0]
    assert frame["b"].tolist() == [2.25, 4.75]


def test_it_names_the_line_of_a_latin1_byte(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"city,value\nParis,1\nZ\xfcrich,2\n")

    with pytest.raises(DataError, match="not UTF-8") as err:
        load(path)

    assert err.value.line == 3
    assert "offset 20" in str(err.value)


def test_it_names_the_line_and_field_counts_of_a_ragged_row(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n7,8\n9,10,11\n")

    with pytest.raises(DataError, match="2 fields where the first row has 3") as err:
        load(path)

    assert err.value.line == 4
    assert "line 4" in str(err.value)


def test_it_refuses_csv_bytes_named_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_text("a,b\n1,2\n")

    with pytest.raises(DataError, match="file content is not Parquet"):
        load(path)


def test_it_refuses_binary_garbage(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(bytes(range(256)) * 8)

    with pytest.raises(DataError, match="binary"):
        load(path)


@pytest.mark.parametrize("content", [b"", b"a,b,c\n"])
def test_it_refuses_a_file_without_data_rows(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)

    with pytest.raises(DataError, match="empty|no data rows"):
        load(path)


@pytest.mark.parametrize(
    "content, line",
    [(b'[{"a": 1},\n {"a": 2,}]', 2), (b'{"a": 1}\n{"a": 2}\n{"a" 3}\n', 3)],
    ids=["json", "jsonl"],
)
def test_it_names_the_line_and_column_of_malformed_json(tmp_path, content, line):
    path = tmp_path / "bad.json"
    path.write_bytes(content)

    with pytest.raises(DataError, match="malformed JSON") as err:
        load(path)

    assert err.value.line == line
    assert err.value.column is not None


def test_it_refuses_a_file_over_the_byte_limit_before_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_text("a\n" + "1\n" * 600)
    monkeypatch.setattr(data, "_resolve_format", _must_not_be_called)

    with pytest.raises(LimitExceeded, match="1,202 bytes; the limit is 1,000 bytes"):
        load(path, limits=Limits(max_bytes=1000))


def test_it_refuses_a_csv_over_the_row_limit(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n" + "1,2\n" * 101)

    with pytest.raises(LimitExceeded, match="the limit is 100 rows"):
        load(path, limits=Limits(max_rows=100))
    assert len(load(path, limits=Limits(max_rows=101)).frame) == 101


def test_it_refuses_a_csv_over_the_column_limit(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(12)) + "\n" + ",".join("1" * 12) + "\n")

    with pytest.raises(LimitExceeded, match="12 columns; the limit is 10 columns"):
        load(path, limits=Limits(max_columns=10))


def _must_not_be_called(*args, **kwargs):
    raise AssertionError("the data was read although the metadata was over the limit")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _parquet_declaring(path, rows: int) -> None:
    """Write a small Parquet file, then rewrite its footer to claim ``rows`` rows."""
    real = 12345
    pq.write_table(pa.table({"x": np.arange(real, dtype="float64")}), path)
    raw = path.read_bytes()
    footer_len = struct.unpack("<I", raw[-8:-4])[0]
    body, footer = raw[: -8 - footer_len], raw[-8 - footer_len : -8]
    # Thrift compact: field 3 (num_rows, i64) follows field 2 → header byte 0x16, then a
    # zig-zag varint.  Both FileMetaData.num_rows and RowGroup.num_rows match this pattern.
    old, new = b"\x16" + _varint(real * 2), b"\x16" + _varint(rows * 2)
    assert footer.count(old) >= 1
    footer = footer.replace(old, new)
    path.write_bytes(body + footer + struct.pack("<I", len(footer)) + b"PAR1")


def test_it_refuses_a_parquet_file_declaring_a_billion_rows_without_reading_it(
    tmp_path, monkeypatch
):
    path = tmp_path / "huge.parquet"
    _parquet_declaring(path, 10**9)
    assert pq.ParquetFile(path).metadata.num_rows == 10**9
    monkeypatch.setattr(pq.ParquetFile, "read", _must_not_be_called)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", _must_not_be_called)
    monkeypatch.setattr(pq, "read_table", _must_not_be_called)

    with pytest.raises(
        LimitExceeded, match="file declares 1,000,000,000 rows; the limit is 10,000,000 rows"
    ):
        load(path)


def test_it_refuses_an_hdf5_dataset_declaring_too_many_rows_without_reading_it(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as fh:
        # Chunked and never written: the file is tiny but declares 10^9 × 2 values.
        fh.create_dataset("X", shape=(10**9, 2), dtype="f8", chunks=(1024, 2))

    with pytest.raises(LimitExceeded, match="file declares 1,000,000,000 rows"):
        load(path)


def test_it_detects_a_text_time_column_and_converts_it(frame):
    frame = frame.rename(columns={"timestamp": "when_seen"})

    assert detect_time_column(frame) == "when_seen"
    assert pd.api.types.is_datetime64_any_dtype(frame["when_seen"])


def test_it_does_not_take_categories_or_numbers_for_time(frame):
    frame = frame.drop(columns="timestamp")
    frame["date_code"] = [str(i) for i in range(len(frame))]

    assert detect_time_column(frame) is None


def test_it_refuses_a_missing_label_column(tmp_path, frame):
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)

    with pytest.raises(DataError, match="label column 'label' not found"):
        load(path, label_column="label")


def test_it_splits_labels_and_time_from_features(tmp_path, frame):
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    loaded = load(path, label_column="is_anomaly")

    features, labels, times = split_features(
        loaded.frame, label_column=loaded.label_column, time_column=loaded.time_column
    )

    assert list(features.columns) == ["temp", "load", "site"]
    assert labels.tolist() == frame["is_anomaly"].tolist()
    assert pd.api.types.is_datetime64_any_dtype(times)


def test_it_takes_the_rarer_of_two_label_values_as_anomaly():
    df = pd.DataFrame({"x": range(5), "kind": ["ok", "ok", "weird", "ok", "ok"]})

    _, labels, _ = split_features(df, label_column="kind")

    assert labels.tolist() == [0, 0, 1, 0, 0]


def test_it_recognises_a_named_anomaly_value_even_when_common():
    df = pd.DataFrame({"x": range(4), "kind": ["outlier", "outlier", "outlier", "normal"]})

    _, labels, _ = split_features(df, label_column="kind")

    assert labels.tolist() == [1, 1, 1, 0]


def test_it_refuses_labels_that_are_not_binary():
    df = pd.DataFrame({"x": range(3), "label": ["a", "b", "c"]})

    with pytest.raises(DataError, match="3 distinct values"):
        split_features(df, label_column="label")


def test_it_round_trips_parquet_storage(tmp_path, frame):
    path = tmp_path / "canonical.parquet"

    data.write_parquet(frame, path)

    pd.testing.assert_frame_equal(data.read_parquet(path), frame)
    assert data.read_parquet(path, columns=["temp"]).columns.tolist() == ["temp"]
    assert not list(tmp_path.glob(".*tmp"))


def test_it_keeps_genuinely_empty_last_fields_as_missing_values(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,c\n1,2,\n4,5,6\n")

    frame = load(path).frame

    assert frame["c"].isna().tolist() == [True, False]


def test_it_names_the_line_of_a_row_with_too_many_fields(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("a,b\n1,2\n3,4\n5,6,7\n")

    with pytest.raises(DataError, match="3 fields where the first row has 2") as err:
        load(path)

    assert err.value.line == 4


# ------------------------------------------------------------- untrusted input, cheaply


def test_check_file_refuses_a_20000_column_header_naming_its_width(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(20_000)) + "\n" + "1," * 19_999 + "1\n")
    with pytest.raises(LimitExceeded, match="file has 20,000 columns; the limit is 10,000"):
        data.check_file(path)


def test_check_file_refuses_a_first_line_over_the_line_limit_reading_only_a_prefix(tmp_path):
    path = tmp_path / "line.csv"
    with open(path, "wb") as fh:  # 32 MB, one line, of which the check reads 1,001 bytes
        for _ in range(32):
            fh.write(b"1,2,3," * ((1 << 20) // 6))
    with pytest.raises(LimitExceeded, match="line 1 is longer than 1,000 bytes"):
        data.check_file(path, limits=Limits(max_line_bytes=1000))


def test_load_refuses_a_long_line_anywhere_in_the_file_before_parsing(tmp_path):
    path = tmp_path / "later.csv"
    path.write_text("a,b\n" + "1,2\n" * 1000 + "3," + "4" * 5000 + "\n")
    with pytest.raises(LimitExceeded, match="line 1,002 is longer than 4,096 bytes"):
        load(path, limits=Limits(max_line_bytes=4096))
    jsonl = tmp_path / "later.jsonl"
    jsonl.write_text('{"a": 1}\n' * 10 + '{"a": "' + "x" * 5000 + '"}\n')
    with pytest.raises(LimitExceeded, match="line 11 is longer than 4,096 bytes"):
        load(jsonl, limits=Limits(max_line_bytes=4096))


def test_check_file_reads_a_parquet_footers_claims_without_reading_data(tmp_path):
    from tests.web.datasets.corpus import lying_parquet

    path = tmp_path / "lie.parquet"
    lying_parquet(2 * 10**12)(path)
    with pytest.raises(LimitExceeded, match="file declares 2,000,000,000,000 rows"):
        data.check_file(path)


def test_check_file_refuses_a_zip_bomb_workbook_by_its_entry_sizes(tmp_path):
    from tests.web.datasets.corpus import xlsx

    path = tmp_path / "bomb.xlsx"
    xlsx(200_000)(path)
    with pytest.raises(LimitExceeded, match="inflates from .* refused as a likely zip bomb"):
        data.check_file(path)
    small = tmp_path / "dimension.xlsx"
    xlsx(1, dimension="B2:C30000000")(small)
    with pytest.raises(LimitExceeded, match="sheet declares 30,000,000 rows"):
        data.check_file(small)


def test_check_file_refuses_hdf5_strings_and_declared_bytes(tmp_path):
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as fh:
        fh.create_dataset("s", data=np.array(["a"], dtype=object), dtype=h5py.string_dtype())
    with pytest.raises(DataError, match="only numeric datasets can be read"):
        data.check_file(path)
    big = tmp_path / "big.h5"
    with h5py.File(big, "w") as fh:
        fh.create_dataset("t", shape=(1_000_000, 500), dtype="f8", chunks=(100, 100))
    with pytest.raises(LimitExceeded, match="declare 3,815 MB of data; at most 1,024 MB"):
        data.check_file(big, limits=Limits(max_uncompressed_bytes=1 << 30))


def test_check_file_accepts_every_supported_format(tmp_path, frame):
    for fmt, ext in [
        ("csv", "csv"),
        ("json", "json"),
        ("jsonl", "jsonl"),
        ("parquet", "parquet"),
        ("feather", "feather"),
        ("xlsx", "xlsx"),
    ]:
        path = tmp_path / f"f.{ext}"
        _write(frame, path, fmt)
        assert data.check_file(path) == fmt


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"a": 1e400}]', "the JSON number 1e400 is out of range"),
        ('[{"a": -Infinity}]', "the JSON value -Infinity is not a finite number"),
        ('[{"a": 1, "a": 2}]', "duplicate key 'a' in a JSON object"),
        ("[" * 70 + "]" * 70, "JSON is nested 70 levels deep; at most 64"),
        ("[" * 5000 + "]" * 5000, "JSON is nested 5,000 levels deep"),
    ],
)
def test_json_is_read_strictly(tmp_path, text, message):
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load(path)


def test_json_nan_reads_as_a_missing_value(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('[{"a": NaN, "b": 1}, {"a": 2.5, "b": 2}]')
    assert load(path).frame["a"].isna().tolist() == [True, False]


@pytest.mark.parametrize("text", ["42", "1e400", '"hello"', "true"])
def test_a_top_level_scalar_json_is_named_as_such(tmp_path, text):
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(DataError, match="JSON must be an array of objects .* not a single value"):
        sniff_format(path)
