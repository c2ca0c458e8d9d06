"""Time-series analysis: every detector on the demo sensor fleet, intervals, options, reloads.

Detection rates were measured on ``pynomaly.demo_timeseries.sensor_fleet()`` (4 sensors x 600
points; planted: two spikes, a level shift of 25 points, a noisy interval of 31 points) at a
contamination of 3 % (72 of 2,400 points), one threshold over the fleet:

=====================  ======  ===========  =======  ==========================
detector               window  planted hit  ROC-AUC  intervals (not on a plant)
=====================  ======  ===========  =======  ==========================
WindowFeatures+IForest 6       4 of 4       0.998    4 (0)
SpectralResidual       —       3 of 4       0.68     51 (43)
TimeSeriesOD(IForest)  12      2 of 4       0.997    2 (0)
MatrixProfile          72      1 of 4       0.955    1 (0)
LSTMAD (2 epochs)      12      4 of 4       0.857    33 (27)
AnomalyTransformer (2) 24      4 of 4       0.932    22 (17)
SAND                   48      1 of 4       0.862    1 (0)
KShape                 48      1 of 4       0.858    1 (0)
=====================  ======  ===========  =======  ==========================

The subsequence detectors (MatrixProfile, SAND, KShape, TimeSeriesOD) spread a window's
score over all its points, so the long planted intervals take most of the 3 % and the
spikes go unflagged; their ROC-AUC shows they still rank the planted points high.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pynomaly import catalogue, cost, demo_timeseries, timeseries, ts_detectors
from pynomaly.detect import PipelineConfig, detect
from pynomaly.errors import DataError, ParamError
from pynomaly.scores import Threshold

FLEET = demo_timeseries.sensor_fleet()
THRESHOLD = Threshold("contamination", 0.03)

# (key, window, params, planted hits at least, ROC-AUC at least): measured values above.
CASES = [
    ("windowfeatures", 6, {}, 4, 0.95),
    ("spectralresidual", None, {}, 3, 0.6),
    ("timeseriesod", 12, {}, 2, 0.95),
    ("matrixprofile", 72, {}, 1, 0.9),
    pytest.param("lstmad", 12, {"epochs": 2}, 3, 0.8, marks=pytest.mark.integration),
    pytest.param("anomalytransformer", 24, {"epochs": 2}, 3, 0.85, marks=pytest.mark.integration),
    pytest.param("sand", 48, {}, 1, 0.8, marks=pytest.mark.integration),
    pytest.param("kshape", 48, {}, 1, 0.8, marks=pytest.mark.integration),
]


def _options(window=None, **extra):
    return timeseries.SeriesOptions.from_dict(
        {
            "time_column": "timestamp",
            "value_columns": ["temperature"],
            "id_column": "sensor",
            "window": window,
            **extra,
        }
    )


def _hits(found: list[dict]) -> int:
    sensors = FLEET["sensor"].to_numpy()
    hits = 0
    for plant in demo_timeseries.planted():
        rows = np.flatnonzero(sensors == plant["series"])[plant["start"] : plant["end"] + 1]
        hits += any(
            i["series"] == plant["series"]
            and i["start_row"] <= rows[-1]
            and i["end_row"] >= rows[0]
            for i in found
        )
    return hits


@pytest.mark.parametrize(("key", "window", "params", "hits", "auc"), CASES)
def test_each_detector_finds_the_planted_anomalies_at_its_measured_rate(
    key, window, params, hits, auc
):
    result = timeseries.detect(FLEET, _options(window), key=key, params=params, threshold=THRESHOLD)

    assert result.scores.shape == (len(FLEET),) and np.isfinite(result.scores).all()
    # ties at the cut are flagged together or not at all: at most the 3 %, never none
    assert 0 < int(result.labels.sum()) <= 0.03 * len(FLEET) + 1
    assert _hits(result.intervals()) >= hits
    assert roc_auc_score(FLEET["anomaly"], result.scores) >= auc


def test_window_features_flag_only_the_planted_intervals_in_the_right_series():
    result = timeseries.detect(FLEET, _options(6), key="windowfeatures", threshold=THRESHOLD)
    found = result.intervals()

    assert sorted(i["series"] for i in found) == ["sensor-a", "sensor-a", "sensor-b", "sensor-c"]
    assert not any(i["series"] == "sensor-d" for i in found)  # the clean sensor


def test_intervals_merge_consecutive_points_and_bridge_small_gaps_per_series():
    series = np.array(["a"] * 12 + ["b"] * 4)
    times = np.r_[np.arange(12), np.arange(4)].astype(float)
    flagged = np.zeros(16, dtype=bool)
    flagged[[1, 2, 3]] = True  # a run of three
    flagged[[7, 10, 11]] = True  # 3 unflagged after 3: a new interval; 8-9 (2) are bridged
    flagged[[12 + 3]] = True  # series b, last point
    scores = np.arange(16, dtype=float)
    severity = np.linspace(0, 100, 16)

    found = timeseries.intervals(series, times, scores, severity, flagged)

    assert [(i["series"], i["start"], i["end"], i["flagged"]) for i in found] == [
        ("a", 1.0, 3.0, 3),
        ("b", 3.0, 3.0, 1),
        ("a", 7.0, 11.0, 3),
    ]
    assert found[2]["points"] == 5 and found[2]["severity"] == pytest.approx(severity[11])
    strict = timeseries.intervals(series, times, scores, severity, flagged, max_gap=0)
    assert len([i for i in strict if i["series"] == "a"]) == 3


def test_intervals_follow_time_order_not_row_order():
    shuffled = FLEET.sample(frac=1.0, random_state=3).reset_index(drop=True)
    result = timeseries.detect(shuffled, _options(6), key="windowfeatures", threshold=THRESHOLD)

    assert _count_by_series(result.intervals()) == {"sensor-a": 2, "sensor-b": 1, "sensor-c": 1}


def _count_by_series(found):
    out: dict[str, int] = {}
    for i in found:
        out[i["series"]] = out.get(i["series"], 0) + 1
    return out


def test_several_value_columns_make_one_multivariate_series():
    one = FLEET[FLEET["sensor"] == "sensor-b"].reset_index(drop=True)
    frame = pd.DataFrame(
        {"ts": one["timestamp"], "t1": one["temperature"], "t2": one["temperature"] * 2 + 1}
    )
    options = timeseries.SeriesOptions.from_dict({"time_column": "ts", "window": 6})

    result = timeseries.detect(frame, options, key="windowfeatures", threshold=THRESHOLD)

    assert result.value_columns == ["t1", "t2"] and result.values.shape == (600, 2)
    assert set(result.series) == {""}
    assert any(330 <= i["start_row"] <= 354 for i in result.intervals())


@pytest.mark.parametrize(
    ("raw", "field", "text"),
    [
        ({}, "time_column", "needs a time column"),
        ({"time_column": "nope"}, "time_column", "no column 'nope'"),
        (
            {"time_column": "timestamp", "value_columns": ["sensor"]},
            "value_columns",
            "not a numeric",
        ),
        ({"time_column": "timestamp", "id_column": "x"}, "id_column", "no column 'x'"),
        ({"time_column": "timestamp", "window": 1}, "window", "between 2 and 2000"),
        ({"time_column": "timestamp", "window": "ten"}, "window", "not a whole number"),
    ],
)
def test_bad_options_name_the_option(raw, field, text):
    with pytest.raises(ParamError, match=text) as caught:
        options = timeseries.SeriesOptions.from_dict(raw)
        options.check(list(FLEET.columns), timeseries.numeric_columns(FLEET))
    assert caught.value.field == field


def test_a_window_longer_than_a_series_is_refused_with_the_series_named():
    with pytest.raises(ParamError, match="not shorter than the series.*sensor-a"):
        timeseries.detect(FLEET, _options(700), key="matrixprofile")


def test_unparseable_times_are_refused():
    frame = FLEET.head(50).assign(timestamp=["noon"] + ["2026-01-01"] * 49)
    with pytest.raises(DataError, match="1 values of the time column are not times"):
        timeseries.detect(frame, _options(), key="spectralresidual")


def test_the_tabular_pipeline_refuses_a_time_series_detector():
    frame = FLEET[["temperature"]]
    with pytest.raises(DataError, match="time-series detector: analyse the dataset as time"):
        detect(frame, PipelineConfig(detectors=(("spectralresidual", {}),)))


def test_the_catalogue_lists_every_pyod_time_series_class_as_available_here():
    specs = {s.short_name: s for s in catalogue.list_detectors(family=ts_detectors.FAMILY)}

    assert set(specs) == {
        "SpectralResidual",
        "MatrixProfile",
        "TimeSeriesOD",
        "WindowFeatures",
        "LSTMAD",
        "AnomalyTransformer",
        "SAND",
        "KShape",
    }
    assert all(s.available and s.unavailable_reason is None for s in specs.values())
    assert specs["LSTMAD"].requires == ("torch",)
    assert "experimental" in " ".join(specs["SAND"].weaknesses)


def test_results_table_holds_points_series_times_intervals_and_values(tmp_path):
    result = timeseries.detect(FLEET, _options(6), key="windowfeatures", threshold=THRESHOLD)
    path = tmp_path / "r.parquet"

    timeseries.write(result, path)
    table = pd.read_parquet(path)

    assert list(table.columns) == [
        "row_id",
        "score",
        "label",
        "severity",
        "series",
        "time",
        "interval",
        "value:temperature",
    ]
    inside = table[table["interval"] >= 0]
    assert table.loc[table["label"] == 1, "interval"].ge(0).all()  # every flag is in one
    assert inside["interval"].nunique() == 4
    summary = timeseries.summarize(result)
    assert summary["timeseries"]["intervals_total"] == 4
    assert [s["id"] for s in summary["timeseries"]["series"]] == list(demo_timeseries.SENSORS)
    assert summary["top"][0]["series"] in {"sensor-a", "sensor-b", "sensor-c"}


# ---------------------------------------------------------------- torch reloads
@pytest.mark.integration
@pytest.mark.parametrize(
    ("key", "params"),
    [
        ("lstmad", {"window_size": 12, "epochs": 1, "hidden_size": 8}),
        ("anomalytransformer", {"window_size": 16, "epochs": 1, "d_model": 8, "n_heads": 2}),
    ],
)
def test_torch_detectors_reload_from_state_dict_with_identical_scores(key, params):
    values = FLEET.loc[FLEET["sensor"] == "sensor-b", ["temperature"]].to_numpy()
    values = (values - values.mean()) / values.std()
    _raw, estimator = timeseries._fit_one(
        key, catalogue.get_detector(key).validate_params(params), values, 7
    )
    before = estimator.decision_function(values)

    data = ts_detectors.save_torch(estimator)
    again = ts_detectors.load_torch(data)

    assert b"pynomaly-torch/1" in data
    np.testing.assert_array_equal(again.decision_function(values), before)
    assert again.threshold_ == estimator.threshold_


def test_a_saved_torch_model_never_unpickles_code():
    import io
    from pathlib import PurePosixPath

    import torch

    buffer = io.BytesIO()
    torch.save({"format": "pynomaly-torch/1", "evil": PurePosixPath("/etc")}, buffer)
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported"):
        ts_detectors.load_torch(buffer.getvalue())


# ---------------------------------------------------------------- the cost guard
def test_the_cost_guard_warns_for_kshape_on_long_series_and_refuses_sand_beyond_its_limit():
    kshape = catalogue.get_detector("kshape").validate_params({})
    short = cost.estimate_series(key="kshape", rows=2_000, series=1, channels=1, params=kshape)
    long = cost.estimate_series(key="kshape", rows=10_000, series=1, channels=1, params=kshape)

    assert not short.heavy
    assert long.heavy and "KShape" in long.warnings[0] and long.seconds > 120
    assert cost.series_refusal("sand", 50_000) is None
    assert "refuses series over 50,000 points" in cost.series_refusal("sand", 50_001)
    fast = cost.estimate_series(
        key="spectralresidual", rows=1_000_000, series=100, channels=1, params={"score_window": 3}
    )
    assert not fast.heavy


# ---------------------------------------------------------------- torch epochs and cancel
_SMALL_TORCH = [
    ("lstmad", 12, {"epochs": 3, "hidden_size": 8, "batch_size": 64}),
    ("anomalytransformer", 16, {"epochs": 3, "d_model": 8, "n_heads": 2, "batch_size": 64}),
]


@pytest.mark.parametrize(("key", "window", "params"), _SMALL_TORCH)
def test_torch_detectors_report_every_epoch_over_all_series(key, window, params):
    two = FLEET[FLEET["sensor"].isin(["sensor-a", "sensor-b"])].groupby("sensor").head(150)
    seen: list[dict] = []
    timeseries.detect(two, _options(window), key=key, params=params, on_epoch=seen.append)
    # 3 epochs per series, 2 series: one bar over 6 epochs
    assert [d["epoch"] for d in seen] == [1, 2, 3, 4, 5, 6]
    assert {d["epochs"] for d in seen} == {6}
    assert seen[-1]["eta_seconds"] == 0 and seen[0]["eta_seconds"] > 0
    assert all(d["elapsed_seconds"] >= 0 for d in seen)


@pytest.mark.parametrize(("key", "window", "params"), _SMALL_TORCH)
def test_a_cancel_stops_a_torch_detector_within_the_epoch(key, window, params):
    from pynomaly.errors import Cancelled

    one = FLEET[FLEET["sensor"] == "sensor-a"].head(300)
    seen: list[dict] = []
    # the run is cancelled once the first epoch has been reported: training must stop at the
    # next check (end of epoch 2 at the latest), not after all 3 epochs
    with pytest.raises(Cancelled):
        timeseries.detect(
            one,
            _options(window),
            key=key,
            params=params,
            on_epoch=seen.append,
            should_stop=lambda: bool(seen),
        )
    assert [d["epoch"] for d in seen] in ([1], [1, 2])
