"""Score every new version of a Pynomaly dataset, and stop the pipeline on too many anomalies.

Needs the connection ``pynomaly_default`` (type ``pynomaly``: host = the server's URL,
password = an API token with write scope). Trigger it with the dataset, the detector
configuration and the version already scored::

    airflow dags trigger pynomaly_example \
        --conf '{"dataset_id": 3, "detector_config_id": 2, "known_version": 1}'

docs/integrations/orchestration.md shows the same DAG (its test parses both).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task
from pynomaly_airflow.operators import PynomalyRunOperator
from pynomaly_airflow.sensors import PynomalyDatasetVersionSensor, PynomalyRunSensor

with DAG(
    dag_id="pynomaly_example",
    description="Wait for a new dataset version, detect anomalies in it, check the count",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["pynomaly", "example"],
    params={
        "dataset_id": Param(1, type="integer", minimum=1),
        "detector_config_id": Param(1, type="integer", minimum=1),
        "known_version": Param(0, type="integer", minimum=0, description="already scored"),
        "max_anomalies": Param(100, type="integer", minimum=0),
    },
):
    new_version = PynomalyDatasetVersionSensor(
        task_id="wait_for_new_version",
        dataset_id="{{ params.dataset_id }}",
        after_version="{{ params.known_version }}",
        mode="reschedule",  # frees the worker slot between pokes
        poke_interval=60,
        timeout=timedelta(hours=6).total_seconds(),
    )

    detect = PynomalyRunOperator(
        task_id="detect",
        dataset_version_id=new_version.output["version_id"],
        detector_config_id="{{ params.detector_config_id }}",
        poll_interval=10,
        run_timeout=timedelta(hours=1).total_seconds(),
        execution_timeout=timedelta(hours=2),
    )

    # The run sensor waits on a run started elsewhere (another DAG, a monitor, a person);
    # here it re-reads the run the operator started.
    confirmed = PynomalyRunSensor(
        task_id="run_succeeded",
        run_id=detect.output["run_id"],
        poke_interval=30,
        timeout=timedelta(hours=1).total_seconds(),
    )

    @task
    def check(result: dict[str, Any], max_anomalies: int | str) -> int:
        limit = int(max_anomalies)  # a rendered template: a string
        anomalies = int(result["anomalies"])
        print(f"run {result['run_id']}: {anomalies} anomalies in {result['rows']} rows")
        if anomalies > limit:
            raise ValueError(f"{anomalies} anomalies exceed the limit of {limit}")
        return anomalies

    new_version >> detect >> confirmed
    confirmed >> check(detect.output, "{{ params.max_anomalies }}")
