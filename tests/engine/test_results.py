"""The results table: its layout, writing and reading it, and what is computed from it."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pynomaly import results
from pynomaly.detect import PipelineConfig, ScoreResult, Threshold, detect, summarize
from pynomaly.evaluate import compare, evaluate, label_metrics

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 3))
    X[:6] += 6.0
    return pd.DataFrame(X, columns=["a", "b", "c"])


def _detect(frame, *detectors) -> ScoreResult:
    config = PipelineConfig(detectors=tuple((d, {}) for d in detectors))
    return detect(frame, config)[1]


def _result(scores, labels=None, contributions=None, names=("x",)) -> ScoreResult:
    scores = np.asarray(scores, dtype=float)
    return ScoreResult(
        scores=scores,
        labels=np.asarray(labels if labels is not None else scores > 0.5, dtype=int),
        severity=np.linspace(0, 100, len(scores)),
        threshold=0.5,
        contributions=contributions,
        feature_names=list(names),
    )


# ---------------------------------------------------------------- layout and round trip
def test_a_detector_with_contributions_round_trips_through_parquet(tmp_path, frame):
    result = _detect(frame, "ecod")
    path = tmp_path / "r.parquet"

    results.write(result, path)
    table = results.read(path)

    assert table.column_names == [
        "row_id", "score", "label", "severity", "contrib:a", "contrib:b", "contrib:c",
    ]  # fmt: skip
    assert [str(t) for t in table.schema.types[:4]] == ["int64", "double", "int8", "double"]
    assert table.column("row_id").to_pylist() == list(range(300))
    np.testing.assert_array_equal(table.column("score").to_numpy(), result.scores)
    np.testing.assert_array_equal(table.column("label").to_numpy(), result.labels)
    np.testing.assert_array_equal(table.column("severity").to_numpy(), result.severity)
    np.testing.assert_array_equal(table.column("contrib:b").to_numpy(), result.contributions[:, 1])


def test_an_ensemble_has_no_contribution_columns(tmp_path, frame):
    path = tmp_path / "r.pq"
    results.write(_detect(frame, "iforest", "hbos"), path)
    assert pq.read_table(path).column_names == list(results.COLUMNS)


def test_csv_and_tsv_keep_the_four_columns_of_the_same_table(tmp_path, frame):
    result = _detect(frame, "ecod")
    results.write(result, tmp_path / "r.csv")
    results.write(result, tmp_path / "r.tsv")

    from_csv = pd.read_csv(tmp_path / "r.csv")
    from_tsv = pd.read_csv(tmp_path / "r.tsv", sep="\t")

    assert list(from_csv.columns) == list(from_tsv.columns) == list(results.COLUMNS)
    np.testing.assert_allclose(from_csv["score"], result.scores, rtol=1e-12)
    assert from_tsv["label"].tolist() == result.labels.tolist()


def test_a_failed_write_leaves_no_file_behind(tmp_path):
    target = tmp_path / "missing-folder" / "r.parquet"
    with pytest.raises(OSError):
        results.write(_result([0.1, 0.9]), target)
    assert not target.parent.exists()


def test_a_write_replaces_the_old_file_whole(tmp_path):
    path = tmp_path / "r.parquet"
    results.write(_result([0.1, 0.9, 0.3]), path)
    results.write(_result([0.7]), path)
    assert results.read(path).num_rows == 1
    assert [p.name for p in tmp_path.iterdir()] == ["r.parquet"]


def test_reading_a_file_that_is_no_results_table_says_which_column_is_missing(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"row_id": [0, 1], "value": [1.0, 2.0]}), path)
    with pytest.raises(results.ResultsFormatError, match="no column score"):
        results.read(path)


def test_download_columns_keep_the_layout_order_and_drop_strangers():
    names = ["contrib:b", "score", "extra", "row_id", "label", "contrib:a"]
    assert results.download_columns(names) == ["row_id", "score", "label", "contrib:b", "contrib:a"]
    assert results.feature_of("contrib:a") == "a"


def test_the_command_line_writes_the_platforms_file(tmp_path, frame):
    data, out = tmp_path / "data.csv", tmp_path / "out.parquet"
    frame.to_csv(data, index=False)
    cli = subprocess.run(
        [sys.executable, "-m", "pynomaly", "detect", str(data), "-d", "ecod", "-q", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert cli.returncode == 0, cli.stderr

    expected = tmp_path / "expected.parquet"
    results.write(_detect(pd.read_csv(data), "ecod"), expected)
    assert pq.read_table(out).equals(pq.read_table(expected))


# ---------------------------------------------------------------- flags and downloads
def test_flags_follow_the_threshold_and_a_missing_score_is_never_flagged():
    scores = np.array([0.2, np.nan, 0.6, 0.5])
    assert results.flags(scores, 0.5).tolist() == [False, False, True, False]
    assert results.counts(results.flags(scores, 0.1)) == {
        "rows": 4,
        "anomalies": 3,
        "anomaly_rate": 0.75,
    }


def _file(tmp_path, scores, labels, **extra) -> pq.ParquetFile:
    n = len(scores)
    columns = {
        "row_id": np.arange(n),
        "score": np.asarray(scores, dtype=float),
        "label": np.asarray(labels, dtype=np.int8),
        "severity": np.zeros(n),
        **extra,
    }
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table(columns), path)
    return pq.ParquetFile(path)


def test_downloads_carry_labels_at_the_saved_threshold(tmp_path):
    pf = _file(tmp_path, [-0.5, 0.2, 0.8], [0, 0, 1])
    columns = results.download_columns(pf.schema_arrow.names)

    rows = list(csv.reader(io.StringIO(b"".join(results.csv_chunks(pf, columns, 0.1, 2)).decode())))
    sink = io.BytesIO()
    results.write_copy(pf, columns, 0.1, sink)

    assert rows[0] == ["row_id", "score", "label", "severity"]
    assert [r[2] for r in rows[1:]] == ["0", "1", "1"]
    assert rows[1][1] == "-0.5"  # a negative number stays a number
    assert pq.read_table(io.BytesIO(sink.getvalue())).column("label").to_pylist() == [0, 1, 1]
    no_threshold = b"".join(results.csv_chunks(pf, columns, None, 10)).decode()
    assert [r.split(",")[2] for r in no_threshold.split()[1:]] == ["0", "0", "1"]


def test_text_that_a_spreadsheet_would_run_is_quoted(tmp_path):
    pf = _file(tmp_path, [0.1, 0.9], [0, 1], note=["=HYPERLINK(1)", "plain"], **{"@x": [1, 2]})
    body = b"".join(results.csv_chunks(pf, ["row_id", "note", "@x"], None, 10))
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["row_id", "note", "'@x"]
    assert [r[1] for r in rows[1:]] == ["'=HYPERLINK(1)", "plain"]
    assert results.escape_cell("@sum") == "'@sum" and results.escape_cell(-1.5) == -1.5


def test_an_empty_result_downloads_as_an_empty_table(tmp_path):
    pf = _file(tmp_path, [], [])
    sink = io.BytesIO()
    results.write_copy(pf, list(results.COLUMNS), 0.5, sink)
    table = pq.read_table(io.BytesIO(sink.getvalue()))
    assert table.num_rows == 0 and table.column_names == list(results.COLUMNS)


# ---------------------------------------------------------------- summaries of scores
def test_quantiles_ignore_missing_scores_and_match_the_summary(frame):
    scores = np.array([np.nan, 1.0, 2.0, 3.0, 4.0, 5.0, np.inf])
    q = results.quantiles(scores)
    assert list(q) == ["min", "p25", "p50", "p75", "p90", "p99", "max"]
    assert (q["min"], q["p50"], q["max"]) == (1.0, 3.0, 5.0)
    assert results.quantiles(np.array([np.nan])) == {}

    result = _detect(frame, "iforest")
    assert summarize(result)["quantiles"] == results.quantiles(result.scores)


def test_the_score_range_gives_a_slider_a_thousandth_step():
    assert results.score_range(np.array([0.0, 2.0, np.nan])) == {
        "min": 0.0,
        "max": 2.0,
        "step": 0.002,
    }
    assert results.score_range(np.array([np.nan])) == {"min": 0.0, "max": 1.0, "step": 0.001}


def test_top_positions_are_the_highest_scores_highest_first_ties_by_position():
    scores = np.array([0.1, 0.9, np.nan, 0.9, 0.5])
    assert results.top_positions(scores, 3).tolist() == [1, 3, 4]
    assert results.top_positions(scores, 0).tolist() == []
    assert results.top_positions(scores, 10).tolist() == [1, 3, 4, 0, 2]


# ---------------------------------------------------------------- explaining rows
def test_z_scores_treat_a_constant_column_as_zero_and_a_missing_value_as_missing():
    values = np.array([[1.0, 5.0], [np.nan, 5.0], [3.0, 5.0]])
    stats = [results.moments(values[:, j]) for j in range(2)]

    assert stats == [(2.0, 1.0), (5.0, 0.0)]  # the missing value is left out of the mean
    z = results.zscores(values, [s[0] for s in stats], [s[1] for s in stats])
    assert z[0].tolist() == [-1.0, 0.0] and np.isnan(z[1, 0]) and z[2, 0] == 1.0
    assert results.moments(pa.chunked_array([[1.0, None], [3.0]])) == (2.0, 1.0)


def test_the_features_that_explain_a_row_rank_by_value_or_by_size():
    matrix = np.array([[0.5, -3.0, 1.0], [np.nan, 2.0, 0.1]])
    names = ["a", "b", "c"]

    by_value = results.top_features(matrix, names, 2, absolute=False)
    by_size = results.top_features(matrix, names, 2, absolute=True)

    assert [[f["feature"] for f in row] for row in by_value] == [["c", "a"], ["b", "c"]]
    assert [[f["feature"] for f in row] for row in by_size] == [["b", "c"], ["b", "c"]]
    assert by_size[0][0] == {"feature": "b", "value": -3.0}
    assert results.most_deviating(matrix, 2).tolist() == [1, 2]


def test_truth_reads_a_numeric_label_column_for_the_results_rows():
    labels = np.array([0.0, 1.0, np.nan, 2.0])
    assert results.truth(labels, np.array([3, 1, 2])).tolist() == [True, True, False]
    assert results.truth(np.array(["yes", "no"], dtype=object), np.array([0])) is None


# ---------------------------------------------------------------- metrics and comparison
def test_label_metrics_are_the_threshold_part_of_evaluate():
    y = np.array([1, 1, 0, 0, 0, 1])
    scores = np.array([0.9, 0.4, 0.8, 0.1, 0.2, 0.7])
    labels = (scores > 0.5).astype(int)

    full = evaluate(y, scores, labels)
    part = label_metrics(y == 1, labels == 1)

    assert part == {k: full[k] for k in part}
    assert (part["tp"], part["fp"], part["tn"], part["fn"]) == (2, 1, 2, 1)
    assert part["f1"] == pytest.approx(2 / 3)
    assert label_metrics(y == 1, scores > 0.85)["recall"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        label_metrics([True], [True, False])


def test_two_results_are_compared_on_the_rows_both_scored():
    ids_a = np.array([0, 1, 2, 3, 4])
    scores_a = np.array([0.1, 0.2, 0.3, 0.9, 0.8])
    ids_b = np.array([4, 3, 2, 1, 9])  # another order, row 0 missing, row 9 extra
    scores_b = np.array([0.7, 0.95, 0.5, 0.1, 0.99])

    agreement = results.agreement(ids_a, scores_a, scores_a > 0.5, ids_b, scores_b, scores_b > 0.6)

    assert agreement.scores_a.tolist() == [0.2, 0.3, 0.9, 0.8]
    assert agreement.scores_b.tolist() == [0.1, 0.5, 0.95, 0.7]
    expected = compare(agreement.scores_a, agreement.flags_a, agreement.scores_b, agreement.flags_b)
    assert agreement.stats == {**expected, "rows": 4, "only_a": 0, "only_b": 0}
    assert agreement.stats["spearman"] == pytest.approx(1.0)
    assert agreement.stats["flagged_both"] == 2 and agreement.stats["jaccard"] == 1.0


def test_results_with_no_common_rows_compare_as_empty():
    agreement = results.agreement(
        np.array([0]), np.array([1.0]), np.array([True]), np.array([1]), np.array([1.0]),
        np.array([True]),
    )  # fmt: skip
    assert agreement.stats["rows"] == 0 and agreement.stats["spearman"] is None


def test_a_threshold_value_is_read_as_the_flag_rule(tmp_path, frame):
    config = PipelineConfig(detectors=(("iforest", {}),), threshold=Threshold("top_k", 6))
    result = detect(frame, config)[1]
    assert (
        results.flags(result.scores, result.threshold).tolist()
        == result.labels.astype(bool).tolist()
    )


# ---------------------------------------------------------------- slider and numbers
def test_slider_stops_flag_from_every_row_to_none_geometrically():
    from pynomaly.results import nearest_stop, slider_stops

    scores = np.random.default_rng(3).normal(size=5000)
    stops = slider_stops(scores, stops=101)
    flagged = [s["flagged"] for s in stops]
    assert flagged[0] == 5000 and flagged[-2] == 1 and flagged[-1] == 0
    for stop in stops:
        assert int((scores > stop["threshold"]).sum()) == stop["flagged"]
    assert 60 <= flagged[50] <= 80  # sqrt(5000) ≈ 71: the middle is the geometric middle
    assert nearest_stop(stops, 71) == 50
    assert slider_stops(np.array([np.nan, np.inf])) == []


def test_readable_numbers():
    from pynomaly.results import readable

    assert readable(5.072e-17) == "5.072 × 10⁻¹⁷"
    assert readable(0.012345678) == "0.01235"
    assert readable(0.95) == "0.95"
    assert readable(12345.678) == "12,346"
    assert readable(-3.2e-9) == "-3.2 × 10⁻⁹"
    assert readable(0.0) == "0" and readable(None) == "—" and readable(float("inf")) == "∞"
