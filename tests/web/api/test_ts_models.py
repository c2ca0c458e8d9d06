"""Trained time-series models over the API: a time-series run registers one, another run
scores a dataset version with it (no fit), and a stranger never sees it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from apps.runs import selectors
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from pynomaly import demo_timeseries
from tests.web.runs.factories import make_config, make_version

from .conftest import assert_problem

POINTS = 150  # per sensor: four sensors, 600 rows


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)


def _fleet() -> pd.DataFrame:
    df = demo_timeseries.sensor_fleet(points=POINTS)
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df


@pytest.fixture
def trained(alice_api, alice, tenant_a):
    """A finished TimeSeriesOD (IForest over windows) run on the fleet, and its model id."""
    version = make_version(tenant_a, _fleet(), time_column="timestamp", user=alice)
    config = make_config(
        tenant_a, alice, name="windows", detectors=(("timeseriesod", {"window_size": 12}),),
        threshold=("contamination", 0.03),
    )  # fmt: skip
    body = {
        "dataset_version_id": version.pk,
        "detector_config_id": config.pk,
        "analysis": "timeseries",
        "analysis_options": {
            "time_column": "timestamp",
            "value_columns": ["temperature"],
            "id_column": "sensor",
        },
    }
    r = alice_api.post("/runs", json=body)
    assert r.status_code == 202, r.content
    execute_run(r.json()["id"])
    run = alice_api.get(f"/runs/{r.json()['id']}").json()
    assert run["status"] == "succeeded", run["error"]
    return run


def _score(alice_api, version, model_id):
    r = alice_api.post(
        "/runs", json={"dataset_version_id": version.pk, "scoring_model_id": model_id}
    )
    assert r.status_code == 202, r.content
    execute_run(r.json()["id"])
    return alice_api.get(f"/runs/{r.json()['id']}").json()


def test_a_time_series_run_registers_a_model_with_the_columns_it_reads(alice_api, trained):
    assert trained["trained_model_id"]

    model = alice_api.get(f"/models/{trained['trained_model_id']}").json()

    assert model["run_id"] == trained["id"]
    assert model["input_columns"] == ["timestamp", "temperature", "sensor"]
    assert model["feature_names"] == ["temperature"]
    assert model["threshold"] == pytest.approx(trained["threshold"])


def test_scoring_a_new_version_of_the_same_data_gives_the_same_scores(
    alice_api, alice, tenant_a, trained
):
    again = make_version(tenant_a, _fleet(), time_column="timestamp", user=alice)

    scored = _score(alice_api, again, trained["trained_model_id"])

    assert scored["status"] == "succeeded", scored["error"]
    assert scored["scoring_model_id"] == trained["trained_model_id"]
    assert scored["analysis"] == "timeseries"
    assert scored["analysis_options"]["id_column"] == "sensor"
    assert scored["trained_model_id"] is None  # it fitted nothing, so it saved nothing
    first, second = (selectors.scores(Run.objects.get(pk=r["id"])) for r in (trained, scored))
    np.testing.assert_allclose(second, first, rtol=0, atol=1e-9)
    assert scored["summary"]["anomalies"] == trained["summary"]["anomalies"]
    assert scored["threshold"] == pytest.approx(trained["threshold"])


def test_scoring_data_without_the_value_column_is_a_problem_naming_it(
    alice_api, alice, tenant_a, trained
):
    version = make_version(
        tenant_a, _fleet().rename(columns={"temperature": "temp"}), time_column="timestamp",
        user=alice,
    )  # fmt: skip
    body = {"dataset_version_id": version.pk, "scoring_model_id": trained["trained_model_id"]}

    problem = assert_problem(alice_api.post("/runs", json=body), 422)

    assert problem["errors"][0]["loc"] == ["body", "scoring_model_id"]
    assert "reads column 'temperature'" in problem["detail"]
    assert Run.objects.count() == 1


def test_a_model_and_a_detector_configuration_together_are_refused(alice_api, trained):
    body = {
        "dataset_version_id": trained["dataset_version_id"],
        "scoring_model_id": trained["trained_model_id"],
        "detector_config_id": trained["detector_config_id"],
    }

    problem = assert_problem(alice_api.post("/runs", json=body), 422)

    assert "not both" in problem["detail"]


def test_records_cannot_be_scored_one_by_one_with_a_time_series_model(alice_api, trained):
    r = alice_api.post(
        f"/models/{trained['trained_model_id']}/score",
        json={"records": [{"timestamp": "2026-11-16T00:00:00", "temperature": 1, "sensor": "a"}]},
    )

    problem = assert_problem(r, 409)
    assert "time-series model" in problem["detail"]


def test_a_stranger_gets_404_for_the_model_and_cannot_score_with_it(
    charlie_api, charlie, tenant_b, trained
):
    model_id = trained["trained_model_id"]
    assert_problem(charlie_api.get(f"/models/{model_id}"), 404)

    own = make_version(tenant_b, _fleet(), time_column="timestamp", user=charlie)
    r = charlie_api.post("/runs", json={"dataset_version_id": own.pk, "scoring_model_id": model_id})
    assert_problem(r, 404)
    assert not Run.objects.filter(tenant=tenant_b).exists()
