"""The profile is a pure function of a DataFrame: no database needed."""

import json

import numpy as np
import pandas as pd

from pynomaly.profile import HISTOGRAM_BINS, profile_frame


def _col(profile, name):
    return next(c for c in profile["columns"] if c["name"] == name)


def _kinds(profile, column):
    return {w["kind"] for w in profile["warnings"] if w["column"] == column}


def test_it_describes_numbers_with_stats_and_a_histogram():
    values = np.arange(100, dtype=float)
    p = profile_frame(pd.DataFrame({"x": values}))
    x = _col(p, "x")
    assert x["kind"] == "numeric"
    assert (x["min"], x["max"]) == (0.0, 99.0)
    assert x["mean"] == 49.5
    assert abs(x["std"] - values.std(ddof=1)) < 1e-9
    assert len(x["histogram"]["counts"]) == HISTOGRAM_BINS
    assert sum(x["histogram"]["counts"]) == 100
    assert len(x["histogram"]["edges"]) == HISTOGRAM_BINS + 1


def test_it_counts_missing_values_and_distinct_ones():
    p = profile_frame(pd.DataFrame({"x": [1.0, None, 1.0, 2.0]}))
    x = _col(p, "x")
    assert (x["missing"], x["missing_share"], x["distinct"]) == (1, 0.25, 2)


def test_it_lists_the_top_values_of_categorical_columns():
    p = profile_frame(pd.DataFrame({"colour": ["red"] * 5 + ["blue"] * 3 + ["green"]}))
    top = _col(p, "colour")["top"]
    assert top[0] == {"value": "red", "count": 5}
    assert [t["value"] for t in top] == ["red", "blue", "green"]


def test_it_warns_about_a_constant_column_and_not_about_a_varying_one():
    p = profile_frame(pd.DataFrame({"same": [7] * 30, "varies": range(30)}))
    assert "constant" in _kinds(p, "same")
    assert "constant" not in _kinds(p, "varies")


def test_it_warns_when_more_than_a_fifth_is_missing():
    p = profile_frame(
        pd.DataFrame({"holey": [1.0, None, None, 4.0, 5.0], "fifth": [1.0, None, 3, 4, 5]})
    )
    assert "missing" in _kinds(p, "holey")  # 40 %
    assert "missing" not in _kinds(p, "fifth")  # exactly 20 % is not more than a fifth


def test_it_warns_about_columns_mixing_numbers_and_text():
    p = profile_frame(
        pd.DataFrame(
            {
                "mixed": pd.Series([1, "two", 3.0, "four"], dtype=object),
                "typo": ["1", "2", "3", "n/a"],
                "text": ["a", "b", "c", "d"],
            }
        )
    )
    assert "mixed" in _kinds(p, "mixed")
    assert "mixed" in _kinds(p, "typo")
    assert "mixed" not in _kinds(p, "text")


def test_it_flags_likely_id_columns_but_not_measurements():
    n = 50
    p = profile_frame(
        pd.DataFrame(
            {
                "customer_id": np.arange(1000, 1000 + n),
                "serial": [f"SN-{i:05d}" for i in range(n)],
                "reading": np.linspace(0, 1, n),  # unique floats are measurements, not IDs
                "shuffled": np.random.default_rng(0).permutation(
                    n
                ),  # unique ints, unnamed, unordered
            }
        )
    )
    assert _col(p, "customer_id").get("likely_id")
    assert "id" in _kinds(p, "serial")
    assert "id" not in _kinds(p, "reading")
    assert "id" not in _kinds(p, "shuffled")


def test_the_time_column_is_marked_and_not_taken_for_an_id():
    times = pd.date_range("2024-01-01", periods=30, freq="h")
    p = profile_frame(pd.DataFrame({"ts": times, "x": range(30)}), time_column="ts")
    ts = _col(p, "ts")
    assert ts["is_time"] and ts["kind"] == "datetime"
    assert ts["min"].startswith("2024-01-01T00:00")
    assert "id" not in _kinds(p, "ts")


def test_the_profile_is_plain_json_even_with_infinities_and_nans():
    p = profile_frame(
        pd.DataFrame({"x": [1.0, np.inf, -np.inf, np.nan], "y": [None, None, None, None]})
    )
    json.dumps(p, allow_nan=False)  # raises on NaN/inf
    assert _col(p, "x")["max"] == 1.0
    assert "empty" in _kinds(p, "y")
