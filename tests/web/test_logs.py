"""Logs: the request id (X-Request-ID) in every record, carried into the tasks a request
enqueues, and JSON lines with LOG_FORMAT=json (web, worker) that never hold secrets."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time

import pytest
from django.test import Client

from apps.common import logs
from tests.conftest import ROOT


@pytest.mark.django_db
def test_a_request_id_sent_by_the_client_is_echoed():
    response = Client().get("/healthz", headers={"X-Request-ID": "lb-7f3a:42"})
    assert response["X-Request-ID"] == "lb-7f3a:42"


@pytest.mark.django_db
@pytest.mark.parametrize("sent", [None, "", "a" * 65, "has space", "x\ny", "<script>", "é"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(sent):
    headers = {"X-Request-ID": sent} if sent is not None else {}
    first = Client().get("/healthz", headers=headers)["X-Request-ID"]
    second = Client().get("/healthz", headers=headers)["X-Request-ID"]
    assert first != sent and len(first) == 32 and int(first, 16) >= 0
    assert first != second


@pytest.mark.django_db
def test_the_lines_logged_while_a_request_is_handled_carry_its_id(caplog, alice_client, tenant_a):
    caplog.set_level(logging.WARNING, logger="django.request")
    response = alice_client.get("/datasets/999999/", headers={"X-Request-ID": "req-404"})
    assert response.status_code == 404
    assert [r.request_id for r in caplog.records if r.name == "django.request"] == ["req-404"]
    logging.getLogger("tests").warning("outside")
    assert caplog.records[-1].request_id == "-"


@pytest.mark.integration
def test_the_task_a_request_enqueues_logs_with_the_request_id(
    celery_worker, alice_client, tenant_a, tmp_path, caplog
):
    from apps.datasets.models import Dataset
    from tests.web.datasets.helpers import post_file, write

    caplog.set_level(logging.INFO)
    response = post_file(
        alice_client,
        tenant_a,
        write("csv", tmp_path),
        name="traced",
        headers={"X-Request-ID": "trace-me-1"},
    )
    assert response.status_code == 302 and response["X-Request-ID"] == "trace-me-1"
    dataset = Dataset.objects.get(name="traced")
    deadline = time.monotonic() + 90
    while dataset.status == Dataset.Status.INGESTING and time.monotonic() < deadline:
        time.sleep(0.2)
        dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.READY, dataset.error
    worker_lines = [r for r in caplog.records if r.threadName != "MainThread"]
    ingesting = [r for r in worker_lines if r.getMessage().startswith("ingesting upload")]
    assert [r.request_id for r in ingesting] == ["trace-me-1"]


def test_a_task_applied_with_the_header_logs_with_its_id_and_restores_the_callers(caplog):
    from pynomaly_web.celery import app

    seen = []

    @app.task(name="tests.logs.note")
    def note() -> None:
        logging.getLogger("tests.logs").warning("in the task")
        seen.append(logs.current())

    caplog.set_level(logging.WARNING)
    token = logs.bind("caller")
    try:
        note.apply(headers={"request_id": "from-header"})
        note.apply()  # eager, no header: the caller's id
        assert logs.current() == "caller"
    finally:
        logs.unbind(token)
        app.tasks.pop("tests.logs.note", None)
    assert seen == ["from-header", "caller"]
    assert [r.request_id for r in caplog.records if r.name == "tests.logs"] == seen


def test_json_lines_hold_the_fields_and_never_the_request_or_its_secrets():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.propagate, level = False, logger.level
    logger.setLevel(logging.INFO)  # an earlier in-thread worker may have left the root at ERROR
    token = logs.bind("r-1")
    try:
        logger.warning(
            "refused %s", "x", extra={"request": {"Authorization": "Bearer s3cr3t"}, "k": "s3cr3t"}
        )
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logs.unbind(token)
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(x["level"], x["message"], x["request_id"]) for x in lines] == [
        ("WARNING", "refused x", "r-1"),
        ("ERROR", "failed", "r-1"),
    ]
    assert lines[0]["logger"] == "tests.json" and lines[0]["time"].endswith("+00:00")
    assert "ValueError: boom" in lines[1]["exception"]
    assert "s3cr3t" not in stream.getvalue()


def test_log_format_json_turns_a_process_lines_into_json():
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('pynomaly.probe').warning('hello %s', 'json')"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert (line["logger"], line["message"], line["request_id"]) == (
        "pynomaly.probe",
        "hello json",
        "-",
    )


def test_an_unknown_log_format_stops_the_process_with_a_clear_message():
    code = "import django; django.setup()"
    env = {**os.environ, "LOG_FORMAT": "yaml", "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "LOG_FORMAT must be 'text' or 'json'" in done.stderr
