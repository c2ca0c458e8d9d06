"""Time-series runs over the API: analysis + analysis_options, the same rules as the form."""

from __future__ import annotations

import pandas as pd
import pytest

from apps.runs.models import Run
from apps.runs.tasks import execute_run
from pynomaly import demo_timeseries
from tests.web.runs.factories import make_config, make_version

from .conftest import assert_problem


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)


@pytest.fixture
def inputs(alice, tenant_a):
    df = demo_timeseries.sensor_fleet()
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    version = make_version(tenant_a, df, time_column="timestamp", user=alice)
    config = make_config(
        tenant_a, alice, name="sr", detectors=(("spectralresidual", {}),),
        threshold=("contamination", 0.02),
    )  # fmt: skip
    return version, config


def _body(version, config, **options):
    return {
        "dataset_version_id": version.pk,
        "detector_config_id": config.pk,
        "analysis": "timeseries",
        "analysis_options": {"time_column": "timestamp", "id_column": "sensor", **options},
    }


def test_a_time_series_run_starts_and_finishes_with_intervals(alice_api, inputs):
    version, config = inputs
    r = alice_api.post("/runs", json=_body(version, config, value_columns=["temperature"]))

    assert r.status_code == 202, r.content
    body = r.json()
    assert body["analysis"] == "timeseries"
    assert body["analysis_options"] == {
        "time_column": "timestamp",
        "value_columns": ["temperature"],
        "id_column": "sensor",
        "window": None,
    }
    execute_run(body["id"])
    done = alice_api.get(f"/runs/{body['id']}").json()
    assert done["status"] == "succeeded", done["error"]
    assert done["summary"]["timeseries"]["intervals_total"] >= 3
    assert [s["id"] for s in done["summary"]["timeseries"]["series"]] == list(
        demo_timeseries.SENSORS
    )


@pytest.mark.parametrize(
    ("options", "loc", "text"),
    [
        ({"time_column": "nope"}, ["body", "analysis_options", "time_column"], "no column 'nope'"),
        (
            {"value_columns": ["sensor"], "id_column": None},
            ["body", "analysis_options", "value_columns"],
            "not a numeric column",
        ),
        ({"id_column": "x"}, ["body", "analysis_options", "id_column"], "no column 'x'"),
    ],
)
def test_bad_options_are_a_problem_naming_the_option(alice_api, inputs, options, loc, text):
    version, config = inputs
    body = assert_problem(alice_api.post("/runs", json=_body(version, config, **options)), 422)

    assert body["errors"][0]["loc"] == loc and text in body["errors"][0]["msg"]
    assert not Run.objects.exists()


def test_a_time_series_run_needs_options_and_a_time_series_detector(
    alice_api, inputs, alice, tenant_a
):
    version, config = inputs
    body = _body(version, config)
    del body["analysis_options"]
    problem = assert_problem(alice_api.post("/runs", json=body), 422)
    assert problem["errors"][0]["loc"] == ["body", "analysis_options"]

    forest = make_config(tenant_a, alice)
    problem = assert_problem(alice_api.post("/runs", json=_body(version, forest)), 422)
    assert problem["errors"][0]["loc"] == ["body", "detector_config_id"]
    tabular = {"dataset_version_id": version.pk, "detector_config_id": config.pk}
    problem = assert_problem(alice_api.post("/runs", json=tabular), 422)
    assert "is a time-series detector" in problem["detail"]
    assert not Run.objects.exists()
