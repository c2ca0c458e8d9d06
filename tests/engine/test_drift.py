"""The drift engine on planted shifts: the shifted columns are flagged, the others are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pynomaly import drift


def _frame(rng, n, *, shift_a=0.0, scale_b=1.0, colours=(0.5, 0.3, 0.2), missing_d=0.0):
    d = rng.normal(size=n)
    d[rng.random(n) < missing_d] = np.nan
    return pd.DataFrame(
        {
            "a": rng.normal(loc=shift_a, size=n),
            "b": rng.normal(scale=scale_b, size=n),
            "c": rng.exponential(size=n),
            "d": d,
            "colour": rng.choice(["red", "green", "blue"], size=n, p=list(colours)),
        }
    )


def test_it_flags_exactly_the_two_shifted_columns_of_five():
    rng = np.random.default_rng(1)
    reference = _frame(rng, 5000)
    current = _frame(rng, 2000, shift_a=0.8, scale_b=2.5)
    report = drift.compare(reference, current)
    assert report.drifted_features == ["a", "b"]
    assert report.detected
    out = report.to_dict()
    assert out["features"]["a"]["psi"] > 0.2 and out["features"]["a"]["p_value"] < 1e-6
    assert out["features"]["c"]["drifted"] is False
    assert out["share"] == pytest.approx(2 / 5)


def test_it_sees_no_drift_between_two_samples_of_the_same_distribution():
    rng = np.random.default_rng(2)
    report = drift.compare(_frame(rng, 5000), _frame(rng, 3000))
    assert not report.detected, report.to_dict()


def test_it_flags_a_category_whose_shares_changed_and_a_column_gone_missing():
    rng = np.random.default_rng(3)
    reference = _frame(rng, 5000)
    current = _frame(rng, 2000, colours=(0.2, 0.3, 0.5), missing_d=0.4)
    report = drift.compare(reference, current)
    assert report.drifted_features == ["d", "colour"]
    colour = report.to_dict()["features"]["colour"]
    assert colour["test"] == "chi2" and colour["share_change"] == pytest.approx(0.3, abs=0.05)
    assert report.to_dict()["features"]["d"]["missing_current"] == pytest.approx(0.4, abs=0.05)


def test_a_column_missing_from_the_new_rows_counts_as_wholly_missing():
    rng = np.random.default_rng(4)
    reference = _frame(rng, 1000)
    report = drift.compare(reference, reference.drop(columns=["c"]), columns=["a", "c"])
    assert report.drifted_features == ["c"]


def test_the_reference_sample_is_bounded_and_seeded():
    df = pd.DataFrame({"x": np.arange(100_000)})
    one, two = drift.sample_reference(df, 1000), drift.sample_reference(df, 1000)
    assert len(one) == 1000 and one.equals(two)
