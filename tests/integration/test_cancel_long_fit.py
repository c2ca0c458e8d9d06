"""Cancelling a run stops it within seconds even inside a long native fit, on a real
prefork worker; the worker then runs the next task and the redelivery changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, _test_database_url, delete_broker_queue
from tests.web.runs.factories import blobs, make_config, make_version

pytestmark = pytest.mark.integration

# LOF on 100,000 x 30 fits for ~50 s on an idle core here (80,000 rows: 33 s).
LONG_ROWS, LONG_COLUMNS = 100_000, 30
# The issue's target is 5 s from the click; the headroom is for a loaded shared machine.
CANCEL_BOUND_SECONDS = 10.0


class Worker:
    def __init__(self, proc: subprocess.Popen, log, queue: str):
        self.proc, self.log, self.queue = proc, log, queue

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def prefork_worker(transactional_db, settings, tmp_path):
    """``celery worker --pool=prefork --concurrency=1`` on its own queue, test DB and media."""
    from pynomaly_web.celery import app

    settings.MEDIA_ROOT = str(tmp_path / "media")
    queue = f"cancel-test-{uuid.uuid4().hex[:8]}"
    default_queue, app.conf.task_default_queue = app.conf.task_default_queue, queue
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": settings.MEDIA_ROOT,
        "CELERY_QUEUE": queue,
        "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
    }
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:  # a file, not a pipe: a full pipe would block the worker
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "pynomaly_web", "worker"),
                *("--pool=prefork", "--concurrency=1", "--without-heartbeat"),
                *("--without-mingle", "--without-gossip", "-Q", queue, "--loglevel=INFO"),
                *("-n", f"{queue}@%h"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = Worker(proc, log, queue)
    try:
        deadline = time.monotonic() + 120
        while " ready." not in worker.text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker did not start: " + worker.text()[-3000:])
            time.sleep(0.2)
        yield worker
    finally:
        app.conf.task_default_queue = default_queue
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        delete_broker_queue(queue)


def _wait_for(run, condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        run.refresh_from_db()
        if condition(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: run is {run.status}/{run.stage} ({run.error!r})")
        time.sleep(0.1)


def _listen(run_id: int):
    """A channel in the run page's group: what an open run page would receive."""
    from channels.layers import get_channel_layer

    from apps.runs.services import run_group
    from tests.conftest import run_async

    layer = get_channel_layer()

    async def join() -> str:
        channel = await layer.new_channel()
        await layer.group_add(run_group(run_id), channel)
        return channel

    # In a thread of its own: after the browser tests, Playwright holds this thread's loop.
    return layer, run_async(join())


def _pushed_statuses(layer, channel, timeout: float) -> list[str]:
    import asyncio
    import re

    from tests.conftest import run_async

    async def drain():
        found = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
            except TimeoutError:
                if found and found[-1] != "running":
                    return found
                continue
            found += re.findall(r'data-status="(\w+)"', message["html"])[:1]
        return found

    return run_async(drain())


def test_a_run_cancelled_mid_fit_is_cancelled_within_seconds_and_the_worker_goes_on(
    prefork_worker, alice, tenant_a
):
    from apps.audit.models import AuditEvent
    from apps.runs import services
    from apps.runs.models import Run

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        rng.normal(size=(LONG_ROWS, LONG_COLUMNS)), columns=[f"x{i}" for i in range(LONG_COLUMNS)]
    )
    long_run = services.run_start(
        tenant=tenant_a,
        user=alice,
        dataset_version=make_version(tenant_a, df),
        detector_version=make_config(
            tenant_a, alice, name="lof", detectors=(("lof", {"n_neighbors": 20}),)
        ).current,
    )
    layer, channel = _listen(long_run.pk)
    _wait_for(long_run, lambda r: r.stage == Run.Stage.FITTING, 180, "never reached the fit")
    time.sleep(3)  # well inside LOF's neighbour search, which never calls back to Python
    long_run.refresh_from_db()
    assert long_run.status == Run.Status.RUNNING and long_run.stage == Run.Stage.FITTING

    clicked = time.monotonic()
    services.run_cancel(run=long_run, user=alice)
    _wait_for(
        long_run,
        lambda r: r.status == Run.Status.CANCELLED,
        60,
        "the cancel did not end the run",
    )
    seconds = time.monotonic() - clicked
    print(f"\ncancel -> cancelled during a LOF fit: {seconds:.2f} s (load {os.getloadavg()})")
    assert seconds < CANCEL_BOUND_SECONDS
    assert long_run.error == "Cancelled on request." and long_run.finished_at
    assert "cancelled" in _pushed_statuses(layer, channel, timeout=10)

    # The worker's only process was ended and replaced: a small run goes through.
    _wait_for_log(prefork_worker, "was cancelled inside a native fit", 30)
    small = services.run_start(
        tenant=tenant_a,
        user=alice,
        dataset_version=make_version(tenant_a, blobs(400)),
        detector_version=make_config(tenant_a, alice).current,
        label_column="is_anomaly",
    )
    _wait_for(small, lambda r: r.is_terminal, 180, "the worker did not run the next task")
    assert small.status == Run.Status.SUCCEEDED, small.error

    # Celery redelivered the lost task; the terminal run made it a no-op.
    _wait_for_log(prefork_worker, f"runs.execute[{long_run.task_id}] succeeded", 60)
    assert prefork_worker.text().count(f"runs.execute[{long_run.task_id}] received") == 2
    long_run.refresh_from_db()
    assert long_run.status == Run.Status.CANCELLED and long_run.attempts == 1
    actions = AuditEvent.objects.filter(target_type="runs.run", target_id=str(long_run.pk))
    assert list(actions.order_by("pk").values_list("action", flat=True)) == [
        "run.started",
        "run.cancel_requested",
        "run.cancelled",
    ]


def _wait_for_log(worker: Worker, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the worker log: {worker.text()[-3000:]}")
        time.sleep(0.2)
