"""The Procfile's worker line with WORKER_AUTOSCALE runs a real Celery worker with its autoscaler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import delete_broker_queue

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _worker_line() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("worker: "):
            return line.removeprefix("worker: ").replace("python ", f"{sys.executable} ", 1)
    raise AssertionError("no worker line in the Procfile")


@pytest.mark.celery
def test_worker_autoscale_starts_celery_with_its_autoscaler_between_min_and_max(settings, tmp_path):
    queue = f"autoscale-{os.getpid()}"
    env = {
        **os.environ,
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": queue,
        "WORKER_AUTOSCALE": "3,1",
        "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
        "PYTHONPATH": str(ROOT),
    }
    name = f"autoscale-{os.getpid()}@%h"
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        # as supervise runs a Procfile line: through bash, exec
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {_worker_line()} -Q {queue} -n {name}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        stats = None
        while time.monotonic() < deadline and proc.poll() is None:
            done = subprocess.run(
                [sys.executable, "-m", "celery", "-A", "pynomaly_web", "inspect", "stats",
                 "--json", "-t", "2", "-d", name.replace("%h", os.uname().nodename)],
                cwd=ROOT, env=env, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode == 0 and done.stdout.strip().startswith("{"):
                stats = next(iter(json.loads(done.stdout).values()))
                break
            time.sleep(1)
        assert stats is not None, log.read_text()[-2000:]
        assert stats["autoscaler"]["max"] == 3 and stats["autoscaler"]["min"] == 1
        # the pool starts at min and grows while tasks wait
        assert 1 <= len(stats["pool"]["processes"]) <= 3
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        delete_broker_queue(queue)
