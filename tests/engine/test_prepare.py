"""Preparation: what becomes a feature, how, and what is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io

from pynomaly.errors import DataError
from pynomaly.prepare import PrepareOptions, Preparer


@pytest.fixture
def mixed():
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame(
        {
            "amount": rng.normal(100, 10, n),
            "constant": np.full(n, 3.0),
            "flag": rng.random(n) > 0.5,
            "colour": rng.choice(["red", "green", "blue"], n),
            "city": [f"city{i % 15}" for i in range(n)],
            "when": pd.date_range("2024-01-01", periods=n, freq="h"),
            "label": np.zeros(n, dtype=int),
        }
    )


def test_a_constant_column_is_dropped_with_the_reason(mixed):
    preparer = Preparer().fit(mixed, PrepareOptions(), exclude=["label"])

    assert preparer.report["dropped"]["constant"] == "constant (a single value)"
    assert "constant" not in preparer.feature_names


def test_dates_are_not_features_and_excluded_columns_are_left_out(mixed):
    preparer = Preparer().fit(mixed, PrepareOptions(), exclude=["label"])

    assert "date/time" in preparer.report["dropped"]["when"]
    assert "label" not in preparer.input_columns
    assert preparer.report["excluded"] == ["label"]


def test_few_categories_are_one_hot_and_many_are_frequency_encoded(mixed):
    preparer = Preparer().fit(mixed, PrepareOptions(max_onehot=10), exclude=["label"])

    assert preparer.report["encoded"] == {"colour": "one-hot", "city": "frequency"}
    assert {"colour=blue", "colour=green", "colour=red", "city"} <= set(preparer.feature_names)


def test_booleans_become_zero_and_one():
    frame = pd.DataFrame({"flag": [True, False, True, False], "x": [1.0, 2.0, 3.0, 5.0]})

    X = Preparer().fit(frame, PrepareOptions(scaling="none")).transform(frame)

    np.testing.assert_array_equal(X[:, 0], [1, 0, 1, 0])


def test_unseen_categories_get_zeros_and_frequency_zero(mixed):
    preparer = Preparer().fit(
        mixed, PrepareOptions(scaling="none", max_onehot=10), exclude=["label"]
    )
    new = mixed.head(1).copy()
    new["colour"] = "purple"
    new["city"] = "atlantis"

    row = dict(zip(preparer.feature_names, preparer.transform(new)[0], strict=True))

    assert row["colour=red"] == row["colour=green"] == row["colour=blue"] == 0.0
    assert row["city"] == 0.0


def test_the_output_is_c_ordered_float64_in_the_training_column_order(mixed):
    preparer = Preparer().fit(mixed, PrepareOptions(), exclude=["label"])

    X = preparer.transform(mixed[list(reversed(mixed.columns))])

    assert X.dtype == np.float64 and X.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(X, preparer.transform(mixed))


def test_standard_scaling_centres_and_scales_training_data(mixed):
    X = Preparer().fit(mixed[["amount"]], PrepareOptions()).transform(mixed[["amount"]])

    assert abs(X.mean()) < 1e-12 and abs(X.std() - 1) < 1e-12


def test_robust_scaling_uses_median_and_iqr():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 1000.0]})

    X = Preparer().fit(frame, PrepareOptions(scaling="robust")).transform(frame)

    assert X[2, 0] == 0.0  # the median maps to 0; the outlier does not drag it
    assert X[3, 0] == pytest.approx(1 / 2)


def test_a_missing_column_at_scoring_is_named(mixed):
    preparer = Preparer().fit(mixed, PrepareOptions(), exclude=["label"])

    with pytest.raises(DataError, match="'amount'"):
        preparer.transform(mixed.drop(columns=["amount"]))


def test_missing_values_are_imputed_with_the_training_median():
    frame = pd.DataFrame({"x": [1.0, 2.0, np.nan, 10.0], "y": [1.0, 1.0, 2.0, np.inf]})

    preparer = Preparer().fit(frame, PrepareOptions(scaling="none"))
    X = preparer.transform(frame)

    assert X[2, 0] == 2.0 and X[3, 1] == 1.0
    assert preparer.report["imputed"] == {"x": 2.0, "y": 1.0}


def test_missing_values_without_imputation_are_refused_clearly():
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0]})

    with pytest.raises(DataError, match="column 'x' has 1 missing"):
        Preparer().fit(frame, PrepareOptions.none())


def test_text_in_a_numeric_column_at_scoring_is_refused():
    preparer = Preparer().fit(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), PrepareOptions())

    with pytest.raises(DataError, match="non-numeric values such as 'abc'"):
        preparer.transform(pd.DataFrame({"x": ["1", "abc", "2"]}))


def test_a_table_without_usable_columns_says_why():
    frame = pd.DataFrame({"c": [5, 5, 5], "t": ["a", "b", "c"]})

    with pytest.raises(DataError, match="no usable feature columns.*c: constant"):
        Preparer().fit(frame, PrepareOptions(encode_categoricals=False))


def test_none_options_only_select_numeric_columns(mixed):
    preparer = Preparer().fit(mixed, PrepareOptions.none(), exclude=["label"])

    np.testing.assert_array_equal(preparer.transform(mixed)[:, 0], mixed["amount"].to_numpy())
    assert "colour" in preparer.report["dropped"]
    assert "constant" in preparer.input_columns  # none() drops nothing numeric


def test_options_round_trip_through_a_dict():
    options = PrepareOptions(scaling="robust", max_onehot=3)

    assert PrepareOptions.from_dict(options.to_dict()) == options
    with pytest.raises(DataError, match="unknown preparation options"):
        PrepareOptions.from_dict({"scale": "x"})


def test_the_state_is_plain_data_skops_holds_without_extra_trust(mixed):
    preparer = Preparer().fit(mixed, PrepareOptions(), exclude=["label"])
    data = skops.io.dumps(preparer.to_state())

    assert skops.io.get_untrusted_types(data=data) == []
    restored = Preparer.from_state(skops.io.loads(data, trusted=[]))
    np.testing.assert_array_equal(restored.transform(mixed), preparer.transform(mixed))
