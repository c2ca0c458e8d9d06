"""``pynomaly monitors …`` in-process against the fake server: what it sends and prints."""

from __future__ import annotations

import json

import pytest

from pynomaly import cli, config
from tests.engine.test_client_unit import FakeApi, config_file  # noqa: F401 - fixture

EXECUTION = {
    "id": 7, "number": 2, "status": "succeeded", "trigger": "manual", "retrained": False,
    "rows": 1200, "anomalies": 12, "max_severity": 99.5, "flagged_share": 0.01,
    "drift_detected": True, "drift": {"detected": True, "drifted": ["amount"]}, "error": "",
    "run_id": 40, "dataset_version_id": 3, "created_at": "2026-12-01T10:00:00Z",
    "started_at": None, "finished_at": None,
}  # fmt: skip
MONITOR = {
    "id": 3, "name": "orders", "status": "active", "dataset_id": 4, "source_id": None,
    "detector_config_id": 2, "detector_version_id": 5, "threshold": None, "schedule": "interval",
    "interval_seconds": 600, "cron": "", "retrain": "on_drift", "retrain_every": None,
    "model_id": 9, "next_execution_at": "2026-12-01T10:10:00Z", "last_execution": EXECUTION,
}  # fmt: skip


@pytest.fixture
def api(config_file):  # noqa: F811
    fake = FakeApi()
    config.save_login(fake.url, "pyn_x")
    yield fake
    fake.close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_sends_the_schedule_and_shows_the_monitor(api, capsys):
    api.route("POST", "/monitors", (201, MONITOR))
    code, out, _ = run(
        capsys, "monitors", "create", "orders", "--dataset", "4", "--detector-config", "2",
        "--every", "600", "--retrain", "on_drift",
    )  # fmt: skip
    assert code == 0, out
    sent = json.loads(api.requests[-1]["body"])
    assert sent == {
        "name": "orders", "detector_config_id": 2, "dataset_id": 4, "schedule": "interval",
        "interval_seconds": 600, "cron": "", "retrain": "on_drift",
    }  # fmt: skip
    assert "every 600 s" in out and "drift: amount" in out and "model 9" in out


def test_list_and_executions_print_tables(api, capsys):
    api.route("GET", "/monitors", (200, {"items": [MONITOR], "next_cursor": None}))
    api.route("GET", "/monitors/3/executions", (200, {"items": [EXECUTION], "next_cursor": None}))
    code, out, _ = run(capsys, "monitors", "list")
    assert code == 0 and "orders" in out and "#2 succeeded" in out and "1 monitors" in out
    code, out, _ = run(capsys, "monitors", "executions", "3")
    assert code == 0 and "1,200" in out and "amount" in out


def test_run_wait_polls_until_the_execution_ends_and_a_failure_exits_1(api, capsys):
    api.route("POST", "/monitors/3/run", (202, {**EXECUTION, "status": "pending"}))
    api.sequence(
        "GET",
        "/monitors/3/executions/2",
        [(200, {**EXECUTION, "status": "running"}),
         (200, {**EXECUTION, "status": "failed", "error": "The run failed: boom"})],
    )  # fmt: skip
    code, out, _ = run(capsys, "monitors", "run", "3", "--wait")
    assert code == 1 and "failed" in out and "boom" in out


def test_a_refusal_prints_the_servers_reason_and_exits_2(api, capsys):
    api.route(
        "POST",
        "/monitors/3/pause",
        (409, {"title": "Conflict", "status": 409, "detail": "The monitor is already paused."}),
    )
    code, _, err = run(capsys, "monitors", "pause", "3")
    assert code == 2 and "already paused" in err
