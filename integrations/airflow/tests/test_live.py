"""The hook, the operator's execute() and the sensors' poke() against a real Pynomaly server
and worker (started by tests/integration/test_orchestration_live.py in the app's venv)."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from pynomaly_airflow.hooks import PynomalyHook
from pynomaly_airflow.operators import PynomalyRunOperator
from pynomaly_airflow.sensors import PynomalyDatasetVersionSensor, PynomalyRunSensor

from pynomaly.client import Client

pytestmark = pytest.mark.live


def poke_until_done(sensor, *, limit: int = 600) -> tuple[list[object], PokeReturnValue]:
    """Poke as Airflow would (without its sleeps' length); every poke before the last is False."""
    import time

    seen: list[object] = []
    for _ in range(limit):
        result = sensor.poke({})
        seen.append(result)
        if isinstance(result, PokeReturnValue) and result.is_done:
            return seen[:-1], result
        time.sleep(0.2)
    raise AssertionError(f"{sensor.task_id} never finished: {seen[-3:]}")


def test_the_hook_reads_the_connection_and_tests_it(live, monkeypatch):
    hook = PynomalyHook()
    client = hook.get_conn()
    assert client.url == live.url
    ok, message = hook.test_connection()
    assert ok, message
    assert message.startswith("Connected as alice@example.com in workspace ")

    bad = {"conn_type": "pynomaly", "host": live.url, "password": "pyn_not-a-real-token"}
    monkeypatch.setenv("AIRFLOW_CONN_PYNOMALY_BAD", json.dumps(bad))
    ok, message = PynomalyHook("pynomaly_bad").test_connection()
    assert not ok and message

    monkeypatch.setenv("AIRFLOW_CONN_PYNOMALY_EMPTY", json.dumps({"conn_type": "pynomaly"}))
    ok, message = PynomalyHook("pynomaly_empty").test_connection()
    assert not ok and "has no host" in message


def test_the_operator_runs_waits_and_returns_the_run_for_the_run_sensor(live):
    detect = PynomalyRunOperator(
        task_id="detect",
        dataset_id=str(live.dataset_id),  # as a rendered template gives it
        detector_config_id=live.config_id,
        label_column="is_anomaly",
        poll_interval=0.2,
        run_timeout=120,
    )
    result = detect.execute({})
    assert result["status"] == "succeeded"
    assert result["rows"] == 600
    assert 0 < result["anomalies"] < 600
    assert result["trained_model_id"]

    with Client(live.url, live.token) as api:
        run = api.runs.get(result["run_id"])
    assert run.status == "succeeded" and run.summary["anomalies"] == result["anomalies"]

    sensor = PynomalyRunSensor(task_id="done", run_id=str(result["run_id"]))
    before, done = poke_until_done(sensor)
    assert before == [] and done.xcom_value == result


def test_the_run_sensor_waits_for_a_run_started_elsewhere(live):
    with Client(live.url, live.token) as api:
        run = api.runs.start(dataset_id=live.dataset_id, detector_config_id=live.config_id)
    sensor = PynomalyRunSensor(task_id="done", run_id=run.id)
    before, done = poke_until_done(sensor)
    assert all(x is False for x in before)
    assert done.xcom_value["run_id"] == run.id and done.xcom_value["status"] == "succeeded"

    missing = PynomalyRunSensor(task_id="missing", run_id=999_999)
    with pytest.raises(AirflowFailException, match="Pynomaly run 999999"):
        missing.poke({})


def test_a_failed_run_fails_the_operator_and_the_sensor_with_the_reason(live):
    detect = PynomalyRunOperator(
        task_id="detect",
        dataset_id=live.bad_dataset_id,
        detector="auto",
        train_labels="known",
        poll_interval=0.2,
        run_timeout=120,
    )
    with pytest.raises(AirflowException, match=r"failed: .*'known' must hold 1 \(anomaly\)"):
        detect.execute({})
    assert detect.run_id is not None

    sensor = PynomalyRunSensor(task_id="done", run_id=detect.run_id)
    with pytest.raises(AirflowFailException, match=f"run {detect.run_id} failed: "):
        sensor.poke({})

    refused = PynomalyRunOperator(
        task_id="refused", dataset_id=999_999, detector_config_id=live.config_id
    )
    with pytest.raises(AirflowException, match="Pynomaly refused the run: "):
        refused.execute({})
    assert refused.run_id is None

    with pytest.raises(AirflowException, match="dataset_id must be an integer id, not 'x'"):
        PynomalyRunOperator(task_id="t", dataset_id="x", detector_config_id=1).execute({})


def test_the_version_sensor_sees_a_new_upload_and_the_operator_scores_that_version(live):
    with Client(live.url, live.token) as api:
        dataset = api.datasets.get(live.dataset_id)
        known = dataset.latest_version.number
        sensor = PynomalyDatasetVersionSensor(
            task_id="new", dataset_id=live.dataset_id, after_version=str(known)
        )
        assert sensor.poke({}) is False

        api.datasets.upload(live.upload_csv, name=dataset.name, progress=False).wait(
            poll=0.2, timeout=60
        )
        before, done = poke_until_done(sensor)
    assert done.xcom_value["dataset_id"] == live.dataset_id
    assert done.xcom_value["version"] == known + 1
    assert done.xcom_value["rows"] == 300

    detect = PynomalyRunOperator(
        task_id="detect",
        dataset_version_id=done.xcom_value["version_id"],
        detector_config_id=live.config_id,
        poll_interval=0.2,
        run_timeout=120,
    )
    result = detect.execute({})
    assert result["dataset_version_id"] == done.xcom_value["version_id"]
    assert result["rows"] == 300

    # Any version at all (after_version 0) is already there; a dataset that is not: fails.
    assert PynomalyDatasetVersionSensor(task_id="any", dataset_id=live.dataset_id).poke({})
    with pytest.raises(AirflowFailException, match="Pynomaly dataset 999999"):
        PynomalyDatasetVersionSensor(task_id="none", dataset_id=999_999).poke({})
