"""``/metrics`` figures read at scrape: runs by detector, rows scored, streams, queue, workers,
and the Celery task counters the worker writes."""

from __future__ import annotations

import time

import pytest
import redis
from django.test import Client

from apps.common import metrics
from tests.conftest import delete_broker_queue
from tests.web.test_metrics import _value


def _scrape() -> str:
    response = Client().get("/metrics", headers={"Authorization": "Bearer t"})
    assert response.status_code == 200, response.content
    return response.content.decode()


@pytest.fixture
def scrape(monkeypatch, settings):
    settings.DEBUG = False
    monkeypatch.setenv("METRICS_TOKEN", "t")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    # no worker in these tests: the ping answer (0) is cached so each scrape stays fast
    monkeypatch.setattr(metrics, "_workers_cache", (time.monotonic(), 0))
    return _scrape


@pytest.mark.django_db
def test_runs_by_detector_and_rows_scored_follow_the_runs(
    scrape, tenant_a, alice, settings, tmp_path
):
    from tests.web.runs.factories import blobs, make_config, make_run, make_version

    settings.MEDIA_ROOT = str(tmp_path)
    version = make_version(tenant_a, blobs(40), user=alice)
    forest = make_config(tenant_a, alice, name="forest")
    ensemble = make_config(tenant_a, alice, name="pair", detectors=(("iforest", {}), ("hbos", {})))
    before = scrape()
    make_run(tenant_a, alice, version, forest, status="succeeded", rows_done=40, rows_total=40)
    make_run(tenant_a, alice, version, forest, status="succeeded", rows_done=60, rows_total=60)
    make_run(tenant_a, alice, version, forest, status="failed", rows_done=7, rows_total=40)
    make_run(tenant_a, alice, version, ensemble, status="queued")
    after = scrape()

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("pynomaly_runs_by_detector", detector="iforest", status="succeeded") == 2
    assert grew("pynomaly_runs_by_detector", detector="iforest", status="failed") == 1
    assert grew("pynomaly_runs_by_detector", detector="iforest+hbos", status="queued") == 1
    assert grew("pynomaly_runs_by_detector", detector="iforest", status="queued") == 0
    assert grew("pynomaly_rows_scored") == 100  # the failed run's 7 rows are not counted


@pytest.mark.django_db
def test_stream_lag_and_throughput_are_labelled_by_stream_id(scrape, tenant_a):
    from apps.streams.models import Stream

    def stream(name: str, state: dict) -> Stream:
        return Stream.objects.create(
            tenant=tenant_a,
            name=name,
            kind=Stream.Kind.REDIS,
            config={"url": "redis://127.0.0.1:6379/0", "key": "k", "group": "g"},
            learner=Stream.Learner.HALF_SPACE_TREES,
            state=state,
        )

    busy = stream("sensors", {"lag": 1250, "records_per_second": 310.5})
    fresh = stream("not started", {})
    text = scrape()
    assert _value(text, "pynomaly_stream_lag", stream=str(busy.pk)) == 1250
    assert _value(text, "pynomaly_stream_records_per_second", stream=str(busy.pk)) == 310.5
    assert f'stream="{fresh.pk}"' not in text  # no figure yet: no sample rather than a fake 0
    assert "sensors" not in text  # names stay out of the labels


@pytest.mark.django_db
def test_queue_depth_counts_the_messages_waiting_in_the_broker(scrape, settings):
    from pynomaly_web.celery import app

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        before = _value(scrape(), "pynomaly_queue_depth", queue=queue)
        app.send_task("health.ping", queue=queue)
        app.send_task("health.ping", queue=queue, priority=6)
        assert _value(scrape(), "pynomaly_queue_depth", queue=queue) == before + 2
    finally:
        client.lpop(queue)  # kombu pushes left and workers pop right: the newest messages
        client.lpop(queue + "\x06\x166")
        client.close()
    assert _value(scrape(), "pynomaly_queue_depth", queue=queue) == before


@pytest.mark.django_db
def test_queue_depth_is_left_out_when_the_broker_is_not_redis(scrape, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
    text = scrape()
    assert "pynomaly_queue_depth" not in text
    assert "pynomaly_workers " in text


@pytest.mark.django_db
def test_tasks_are_counted_by_state_and_timed(scrape):
    from pynomaly_web.celery import app
    from pynomaly_web.health import ping

    @app.task(name="tests.metrics.boom")
    def boom() -> None:
        raise ValueError("no")

    try:
        before = scrape()
        ping.apply()
        ping.apply()
        boom.apply()
        after = scrape()
    finally:
        app.tasks.pop("tests.metrics.boom", None)
    key = {"task": "health.ping", "state": "succeeded"}
    assert _value(after, "pynomaly_celery_tasks_total", **key) == (
        _value(before, "pynomaly_celery_tasks_total", **key) + 2
    )
    failed = {"task": "tests.metrics.boom", "state": "failed"}
    assert _value(after, "pynomaly_celery_tasks_total", **failed) == 1
    count = "pynomaly_celery_task_duration_seconds_count"
    assert _value(after, count, task="health.ping") == _value(before, count, task="health.ping") + 2


@pytest.mark.integration
@pytest.mark.celery
def test_workers_counts_a_live_worker_and_its_tasks(transactional_db, monkeypatch, settings):
    """A real worker on the real broker answers the ping; the task it runs is counted."""
    import uuid

    from celery.contrib.testing.worker import start_worker

    from pynomaly_web.health import ping

    settings.DEBUG = False
    monkeypatch.setenv("METRICS_TOKEN", "t")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(metrics, "_workers_cache", None)
    from pynomaly_web.celery import app

    # Earlier tests of the suite leave tasks queued on the shared broker's default queue (runs
    # never meant to execute, deliveries to addresses that do not answer): a worker there would
    # prefetch and chew through them before the ping. This one consumes a queue of its own.
    queue = f"metrics-test-{uuid.uuid4().hex[:8]}"
    before = _value(_scrape(), "pynomaly_celery_tasks_total", task="health.ping", state="succeeded")
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=[queue]
        ):
            assert ping.apply_async(queue=queue).get(timeout=60)  # the worker's host name
            # the result is stored before task_postrun fires: wait (bounded) for the counter
            deadline = time.monotonic() + 10
            while True:
                monkeypatch.setattr(metrics, "_workers_cache", None)
                text = _scrape()
                done = _value(
                    text, "pynomaly_celery_tasks_total", task="health.ping", state="succeeded"
                )
                if done == before + 1 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
    finally:
        delete_broker_queue(queue)
    assert done == before + 1
    assert _value(text, "pynomaly_workers") == 1


@pytest.mark.django_db
def test_task_metrics_of_several_worker_children_are_summed(scrape, monkeypatch, tmp_path):
    """Pool children write their task samples to PROMETHEUS_MULTIPROC_DIR; a scrape sums them."""
    import os
    import subprocess
    import sys

    from tests.web.test_metrics import ROOT

    script = (
        "from pynomaly_web.celery import app\nfrom pynomaly_web.health import ping\nping.apply()\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = scrape()
    labels = {"task": "health.ping", "state": "succeeded"}
    assert _value(text, "pynomaly_celery_tasks_total", **labels) == 2
    assert _value(text, "pynomaly_celery_task_duration_seconds_count", task="health.ping") == 2
