"""The component's own code against a real Pynomaly server and worker (started by
tests/integration/test_orchestration_live.py in the app's venv): called as a function, and
executed by KFP's local runner the way a pipeline step runs it (source copied, executor)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pynomaly.client import Client

pytestmark = pytest.mark.live


@pytest.fixture
def live():
    if "PYNOMALY_TEST_URL" not in os.environ:
        pytest.skip(
            "no live server: run through tests/integration/test_orchestration_live.py "
            "(make test-integrations), which starts one and sets PYNOMALY_TEST_*"
        )
    return {
        "url": os.environ["PYNOMALY_TEST_URL"],
        "token": os.environ["PYNOMALY_TEST_TOKEN"],
        "dataset_id": int(os.environ["PYNOMALY_TEST_DATASET_ID"]),
        "config_id": int(os.environ["PYNOMALY_TEST_CONFIG_ID"]),
        "bad_dataset_id": int(os.environ["PYNOMALY_TEST_BAD_DATASET_ID"]),
    }


def test_the_component_function_runs_waits_and_outputs_the_run(live, monkeypatch):
    from pynomaly_kfp.components import pynomaly_run

    monkeypatch.setenv("PYNOMALY_TOKEN", live["token"])  # as the Secret sets it
    out = pynomaly_run.python_func(
        server_url=live["url"],
        dataset_id=live["dataset_id"],
        detector_config_id=live["config_id"],
        label_column="is_anomaly",
        poll_interval=0.2,
        run_timeout=120,
    )
    assert out._fields == ("run_id", "anomalies", "rows")
    assert out.rows == 600 and 0 < out.anomalies < 600
    with Client(live["url"], live["token"]) as api:
        run = api.runs.get(out.run_id)
    assert run.status == "succeeded" and run.summary["anomalies"] == out.anomalies
    assert run.label_column == "is_anomaly"


def test_the_component_fails_the_step_with_the_reason(live, monkeypatch):
    from pynomaly_kfp.components import check_anomalies, pynomaly_run

    monkeypatch.delenv("PYNOMALY_TOKEN", raising=False)
    with pytest.raises(ValueError, match="no API token"):
        pynomaly_run.python_func(server_url=live["url"], dataset_id=live["dataset_id"])

    with pytest.raises(RuntimeError, match=r"failed: .*'known' must hold 1 \(anomaly\)"):
        pynomaly_run.python_func(
            server_url=live["url"],
            token=live["token"],
            dataset_id=live["bad_dataset_id"],
            detector="auto",
            train_labels="known",
            poll_interval=0.2,
            run_timeout=120,
        )

    with pytest.raises(RuntimeError, match="Pynomaly refused the run: "):
        pynomaly_run.python_func(
            server_url=live["url"], token=live["token"], dataset_id=999_999, detector="auto"
        )

    with pytest.raises(RuntimeError, match="5 anomalies exceed the limit of 4"):
        check_anomalies.python_func(run_id=1, anomalies=5, max_anomalies=4)
    assert check_anomalies.python_func(run_id=1, anomalies=4, max_anomalies=4) == 4


def test_kfp_local_runner_executes_the_component_against_the_server(live, tmp_path, monkeypatch):
    """KFP's SubprocessRunner runs the step as a pipeline does: the component's source in a
    fresh Python process through KFP's executor, outputs written as KFP outputs. The step's
    command line `pip install`s kfp first: PATH starts with this venv, where it is already."""
    import kfp.local
    from pynomaly_kfp.components import pynomaly_run

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYNOMALY_TOKEN", live["token"])
    kfp.local.init(
        runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root")
    )
    task = pynomaly_run(
        server_url=live["url"],
        dataset_id=live["dataset_id"],
        detector_config_id=live["config_id"],
        poll_interval=0.2,
        run_timeout=120.0,
    )
    assert task.outputs["rows"] == 600
    assert 0 < task.outputs["anomalies"] < 600
    with Client(live["url"], live["token"]) as api:
        assert api.runs.get(task.outputs["run_id"]).status == "succeeded"
