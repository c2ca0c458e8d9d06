"""Executions end to end in-process: new rows → drift → a run that scores (or refits) → figures."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from apps.datasets.models import DatasetVersion
from apps.datasets.signals import version_created
from apps.monitors.executions import LOST, execution_sweep
from apps.monitors.models import Monitor, MonitorExecution
from apps.monitors.services import MonitorInput, MonitorStateError, monitor_create, monitor_trigger
from apps.monitors.signals import execution_finished
from apps.runs.models import Run
from tests.web.runs.factories import blobs

from .conftest import add_version

ROOT = Path(__file__).resolve().parents[3]
Status = MonitorExecution.Status


@pytest.fixture
def finished():
    seen: list[MonitorExecution] = []

    def listen(sender, execution, **kwargs):
        seen.append(execution)

    execution_finished.connect(listen, dispatch_uid="test-listen")
    yield seen
    execution_finished.disconnect(dispatch_uid="test-listen")


def _monitor(tenant, user, version, config, **kw) -> Monitor:
    values = dict(
        name="m",
        dataset=version.dataset,
        detector_version=config.current,
        schedule="interval",
        interval_seconds=60,
    )
    values.update(kw)
    return monitor_create(tenant=tenant, user=user, data=MonitorInput(**values))


def _execute(inline_tasks, monitor, trigger="manual") -> MonitorExecution:
    with inline_tasks():
        execution = monitor_trigger(monitor=monitor, trigger=trigger)
    execution.refresh_from_db()
    monitor.refresh_from_db()
    return execution


def test_the_first_execution_fits_and_later_ones_score_with_that_model(
    alice, tenant_a, version, config, inline_tasks, finished
):
    monitor = _monitor(tenant_a, alice, version, config)
    first = _execute(inline_tasks, monitor)
    assert first.status == Status.SUCCEEDED, first.error
    assert first.retrained and first.number == 1 and first.dataset_version == version
    assert first.run.status == Run.Status.SUCCEEDED and first.run.scoring_model is None
    assert monitor.model is not None and monitor.model.run == first.run
    assert first.rows == 300 and first.anomalies == first.run.summary["anomalies"] > 0
    assert first.flagged_share == pytest.approx(first.anomalies / 300)
    assert 90 <= first.max_severity <= 100
    assert first.drift == {}  # nothing to compare with before the first model
    assert [e.pk for e in finished] == [first.pk]

    second_version = add_version(version.dataset, blobs(200, seed=5, label=False))
    second = _execute(inline_tasks, monitor)
    assert second.status == Status.SUCCEEDED, second.error
    assert second.number == 2 and not second.retrained and second.dataset_version == second_version
    assert second.run.scoring_model == monitor.model and second.rows == 200
    assert not hasattr(second.run, "trained_model") or second.run.trained_model is None
    assert second.drift["detected"] is False and set(second.drift["features"]) == {"a", "b", "c"}
    assert [e.pk for e in finished] == [first.pk, second.pk]


def test_a_score_only_run_gives_the_scores_of_the_cli_scoring_with_that_model(
    alice, tenant_a, version, config, inline_tasks, tmp_path
):
    monitor = _monitor(tenant_a, alice, version, config)
    _execute(inline_tasks, monitor)
    new = add_version(version.dataset, blobs(250, seed=9, label=False))
    execution = _execute(inline_tasks, monitor)
    out = tmp_path / "cli.parquet"
    cli = subprocess.run(
        [sys.executable, "-m", "pynomaly", "score", monitor.model.artifact.path, new.parquet.path]
        + ["--sha256", monitor.model.sha256, "-o", str(out), "--quiet"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    ours, theirs = pd.read_parquet(execution.run.results.path), pd.read_parquet(out)
    np.testing.assert_array_equal(ours["score"].to_numpy(), theirs["score"].to_numpy())
    assert ours["label"].tolist() == theirs["label"].tolist()


def test_no_new_rows_means_skipped_and_no_announcement(
    alice, tenant_a, version, config, inline_tasks, finished
):
    monitor = _monitor(tenant_a, alice, version, config)
    _execute(inline_tasks, monitor)
    skipped = _execute(inline_tasks, monitor)
    assert skipped.status == Status.SKIPPED and skipped.run is None and skipped.number == 2
    assert len(finished) == 1


def test_every_n_refits_on_every_nth_execution(alice, tenant_a, version, config, inline_tasks):
    monitor = _monitor(tenant_a, alice, version, config, retrain="every_n", retrain_every=2)
    refits = []
    for seed in range(4):
        if seed:
            add_version(version.dataset, blobs(150, seed=seed, label=False))
        execution = _execute(inline_tasks, monitor)
        assert execution.status == Status.SUCCEEDED, execution.error
        refits.append(execution.retrained)
    assert refits == [True, False, True, False]
    assert monitor.model.run == monitor.executions.get(number=3).run


def test_drift_refits_under_the_on_drift_policy_and_is_kept_per_feature(
    alice, tenant_a, version, config, inline_tasks
):
    monitor = _monitor(tenant_a, alice, version, config, retrain="on_drift")
    _execute(inline_tasks, monitor)
    old_model = monitor.model
    add_version(version.dataset, blobs(200, seed=3, label=False))
    calm = _execute(inline_tasks, monitor)
    assert not calm.drift["detected"] and not calm.retrained
    shifted = blobs(200, seed=4, label=False)
    shifted["b"] += 3
    add_version(version.dataset, shifted)
    drifted = _execute(inline_tasks, monitor)
    assert drifted.drift["detected"] and drifted.drift["drifted"] == ["b"]
    assert drifted.drift["features"]["b"]["psi"] > 1
    assert drifted.retrained and drifted.run.scoring_model is None
    assert monitor.model != old_model and monitor.model.run == drifted.run


def test_the_monitor_threshold_decides_what_counts(alice, tenant_a, version, config, inline_tasks):
    monitor = _monitor(tenant_a, alice, version, config, threshold=0.0)
    execution = _execute(inline_tasks, monitor)
    assert execution.status == Status.SUCCEEDED, execution.error
    scores = pd.read_parquet(execution.run.results.path)["score"]
    assert execution.anomalies == int((scores > 0.0).sum())
    assert execution.run.threshold == 0.0


def test_a_failed_run_ends_the_execution_failed_with_its_error(
    alice, tenant_a, config, inline_tasks, finished
):
    from tests.web.runs.factories import make_version

    version = make_version(tenant_a, pd.DataFrame({"a": [1.0]}))  # one row: nothing to fit
    monitor = _monitor(tenant_a, alice, version, config)
    execution = _execute(inline_tasks, monitor)
    assert execution.status == Status.FAILED
    assert execution.error.startswith("The run failed:") and "2 rows" in execution.error
    assert [e.pk for e in finished] == [execution.pk] and finished[0].status == Status.FAILED


def test_run_now_refuses_while_an_execution_is_in_flight(alice, tenant_a, version, config):
    monitor = _monitor(tenant_a, alice, version, config)
    monitor_trigger(monitor=monitor, trigger="manual")
    with pytest.raises(MonitorStateError, match="still pending"):
        monitor_trigger(monitor=monitor, trigger="manual")
    assert monitor_trigger(monitor=monitor, trigger="schedule") is None


def test_a_paused_monitor_ignores_ticks_but_runs_on_request(alice, tenant_a, version, config):
    monitor = _monitor(tenant_a, alice, version, config)
    Monitor.objects.filter(pk=monitor.pk).update(status=Monitor.Status.PAUSED)
    assert monitor_trigger(monitor=monitor, trigger="schedule") is None
    assert monitor_trigger(monitor=monitor, trigger="manual") is not None


def test_a_new_dataset_version_triggers_an_on_new_version_monitor(
    alice, tenant_a, version, config, inline_tasks
):
    monitor = _monitor(tenant_a, alice, version, config, schedule="on_new_version")
    other = _monitor(tenant_a, alice, version, config, name="other")  # interval: not triggered
    with inline_tasks():
        version_created.send(sender=DatasetVersion, version=version)
    execution = monitor.executions.get()
    assert execution.trigger == "new_version" and execution.status == Status.SUCCEEDED
    assert not other.executions.exists()


def test_the_sweeper_fails_an_execution_whose_worker_vanished(alice, tenant_a, version, config):
    monitor = _monitor(tenant_a, alice, version, config)
    execution = MonitorExecution.objects.create(
        tenant=tenant_a,
        monitor=monitor,
        number=1,
        status=Status.RUNNING,
        started_at=timezone.now() - timedelta(hours=1),
    )
    assert execution_sweep()["lost"] == 1
    execution.refresh_from_db()
    assert execution.status == Status.FAILED and execution.error == LOST
