"""Figure builders: pure functions from arrays to Plotly dicts (no Django, no database)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from apps.runs import charts


def test_the_histogram_has_its_threshold_line_at_the_threshold():
    fig = charts.histogram(np.linspace(0, 1, 1000), 0.8)
    line = fig["layout"]["shapes"][0]
    assert line["x0"] == line["x1"] == 0.8
    assert line["yref"] == "paper"


def test_the_histogram_counts_every_row_but_sends_only_bins():
    scores = np.random.default_rng(0).normal(size=200_000)
    fig = charts.histogram(scores, 1.0, bins=50)
    bars = fig["data"][0]
    assert len(bars["x"]) == 50
    assert sum(bars["y"]) == 200_000


def test_the_histogram_colours_bins_above_the_threshold_red():
    fig = charts.histogram(np.linspace(0, 1, 100), 0.5, bins=10)
    colours = fig["data"][0]["marker"]["color"]
    assert colours[:5] == [charts.INDIGO] * 5 and colours[5:] == [charts.RED] * 5


def test_the_histogram_ignores_non_finite_scores():
    fig = charts.histogram(np.array([0.1, np.nan, 0.2, np.inf]), 0.15, bins=2)
    assert sum(fig["data"][0]["y"]) == 2


def test_the_time_series_marks_exactly_the_flagged_rows():
    scores = np.random.default_rng(1).random(500)
    flagged = scores > 0.9
    fig = charts.timeseries(scores, flagged)
    marked = fig["data"][1]
    assert marked["x"] == np.flatnonzero(flagged).tolist()
    assert marked["y"] == charts.compact(scores[flagged])
    assert marked["marker"]["color"] == charts.RED


def test_downsampling_keeps_every_anomaly_and_caps_the_other_points():
    n = 300_000
    scores = np.random.default_rng(2).random(n)
    flagged = scores > 0.995
    fig = charts.timeseries(scores, flagged, max_points=2000)
    assert len(fig["data"][0]["x"]) <= 2000
    assert sorted(fig["data"][1]["x"]) == np.flatnonzero(flagged).tolist()
    assert f"of {n:,} points" in fig["layout"]["title"]["text"]


def test_a_small_series_is_drawn_whole_without_a_note():
    scores = np.arange(10.0)
    fig = charts.timeseries(scores, scores > 7)
    assert len(fig["data"][0]["x"]) + len(fig["data"][1]["x"]) == 10
    assert "showing" not in fig["layout"]["title"]["text"]


def test_too_many_anomalies_keep_the_highest_scores_and_say_so():
    scores = np.linspace(0, 1, 10_000)
    flagged = scores > 0.5
    fig = charts.timeseries(scores, flagged, max_points=100, max_flagged=1000)
    marked = fig["data"][1]["x"]
    assert len(marked) == 1000 and min(marked) == 9000
    assert f"1,000 of {int(flagged.sum()):,} flagged rows" in fig["layout"]["title"]["text"]


def test_minmax_decimation_keeps_peaks():
    values = np.zeros(100_000)
    values[12_345] = 50.0
    values[67_890] = -50.0
    kept = charts.minmax_decimate(values, 500)
    assert len(kept) <= 500
    assert 12_345 in kept and 67_890 in kept
    assert np.all(np.diff(kept) > 0)


def test_the_time_series_follows_a_time_axis_in_time_order():
    x = np.array(["2024-01-03", "2024-01-01", "2024-01-02"], dtype="datetime64[s]")
    fig = charts.timeseries(
        np.array([0.1, 0.9, 0.2]), np.array([False, True, False]), x, x_title="ts"
    )
    assert fig["data"][0]["x"] == ["2024-01-02T00:00:00", "2024-01-03T00:00:00"]
    assert fig["data"][1]["x"] == ["2024-01-01T00:00:00"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "ts"


def test_the_heatmap_is_top_n_rows_by_features():
    matrix = np.random.default_rng(3).normal(size=(30, 7))
    fig = charts.heatmap(matrix, list(range(30)), [f"f{i}" for i in range(7)])
    trace = fig["data"][0]
    assert len(trace["z"]) == 30 and all(len(r) == 7 for r in trace["z"])
    assert trace["x"] == [f"f{i}" for i in range(7)]
    assert trace["y"][0] == "row 0"
    assert trace["zmid"] == 0


def test_pca_finds_the_direction_of_largest_spread():
    rng = np.random.default_rng(4)
    X = np.column_stack(
        [rng.normal(scale=10, size=500), rng.normal(scale=0.1, size=500), np.zeros(500)]
    )
    coords, share = charts.pca_2d(X)
    assert coords.shape == (500, 2)
    assert share[0] > 0.99
    assert abs(np.corrcoef(coords[:, 0], X[:, 0])[0, 1]) > 0.999


def test_the_projection_outlines_flagged_rows_and_notes_the_sample():
    coords = np.zeros((3, 2))
    fig = charts.projection(
        coords,
        np.array([0.1, 0.5, 0.9]),
        np.array([False, False, True]),
        np.array([4, 8, 15]),
        total_rows=1000,
    )
    marker = fig["data"][0]["marker"]
    assert marker["line"]["color"][2] == charts.RED and marker["line"]["color"][0] != charts.RED
    assert fig["data"][0]["customdata"] == [4, 8, 15]
    assert "showing 3 of 1,000" in fig["layout"]["title"]["text"]


def test_sampling_is_seeded_and_keeps_the_rows_it_must():
    a = charts.sample_rows(100_000, 500, seed=7, must=np.array([3, 99_999]))
    b = charts.sample_rows(100_000, 500, seed=7, must=np.array([3, 99_999]))
    assert np.array_equal(a, b)
    assert 3 in a and 99_999 in a and len(a) <= 502


def test_the_comparison_scatter_groups_rows_by_overlap():
    sa = np.array([0.1, 0.9, 0.8, 0.2])
    sb = np.array([0.1, 0.9, 0.1, 0.7])
    fig = charts.compare_scatter(sa, sb, sa > 0.5, sb > 0.5)
    by_name = {t["name"].split(" (")[0]: t["customdata"] for t in fig["data"]}
    assert by_name == {"flagged by both": [1], "only A": [2], "only B": [3], "neither": [0]}


@pytest.mark.parametrize("builder", ["histogram", "timeseries", "heatmap", "projection", "compare"])
def test_every_figure_is_plain_json(builder):
    s = np.array([0.1, np.nan, 0.9])
    f = s > 0.5
    fig = {
        "histogram": lambda: charts.histogram(s, 0.5),
        "timeseries": lambda: charts.timeseries(s, f),
        "heatmap": lambda: charts.heatmap(np.array([[1.0, np.nan]]), [1], ["a", "b"]),
        "projection": lambda: charts.projection(np.zeros((3, 2)), s, f, np.arange(3), total_rows=3),
        "compare": lambda: charts.compare_scatter(s, s, f, f),
    }[builder]()
    json.dumps(fig, allow_nan=False)
