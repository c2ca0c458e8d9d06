"""A monitor on an interval, end to end with real processes: the SDK creates it on the live
server, beat (django-celery-beat's DatabaseScheduler, as in the Procfile) ticks it from the
database, a real worker executes it — first a fit, then a scoring of the next version with the
model — and the CLI lists the executions. Pausing disables the beat entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, _test_database_url
from tests.web.monitors.conftest import add_version
from tests.web.runs.factories import blobs, make_config, make_version

pytestmark = pytest.mark.integration

INTERVAL = 5


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


@pytest.fixture
def beat(transactional_db, settings, tmp_path, live_media):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
    }
    procfile = (ROOT / "Procfile").read_text()
    scheduler = "django_celery_beat.schedulers:DatabaseScheduler"
    assert scheduler in procfile  # the process `make run` starts is the one tested here
    log = tmp_path / "beat.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "pynomaly_web", "beat", "--loglevel=DEBUG",
             "--scheduler", scheduler, "--max-interval", "1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    yield proc, log
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYNOMALY_CONFIG": str(home / "config.json")}
    return subprocess.run([sys.executable, "-m", "pynomaly", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def _wait(predicate, what: str, log: Path, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}; beat said:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def test_beat_executes_an_interval_monitor_created_through_the_sdk(
    alice, tenant_a, live_media, asgi_server, celery_worker, beat, tmp_path
):
    from django_celery_beat.models import PeriodicTask

    from apps.api.services import token_create
    from apps.monitors.models import Monitor
    from pynomaly.client import Client

    _proc, log = beat
    version = make_version(tenant_a, blobs(300, label=False), user=alice)
    config = make_config(tenant_a, alice)
    _token, raw = token_create(user=alice, tenant=tenant_a, name="beat test", scope="write")
    with Client(asgi_server.url, raw) as api:
        created = api.monitors.create(
            "every five seconds", dataset_id=version.dataset_id, detector_config_id=config.pk,
            schedule="interval", interval_seconds=INTERVAL,
        )  # fmt: skip
    monitor = Monitor.objects.get(pk=created.id)
    # The settings' housekeeping entries were written into the same table by the scheduler.
    _wait(
        lambda: PeriodicTask.objects.filter(name="sweep-monitors").exists(), "no sweep entry", log
    )

    def executions(status):
        return list(monitor.executions.filter(status=status).order_by("number"))

    [first] = _wait(lambda: executions("succeeded"), "no first execution", log)
    assert first.retrained and first.trigger == "schedule" and first.rows == 300
    add_version(version.dataset, blobs(120, seed=4, label=False))
    scored = _wait(lambda: executions("succeeded")[1:], "the new version was not scored", log)[0]
    assert not scored.retrained and scored.rows == 120
    monitor.refresh_from_db()
    assert scored.run.scoring_model_id == monitor.model_id == first.run.trained_model.pk
    # Between the two, ticks with nothing new were skipped, not piled up.
    assert all(e.status in ("succeeded", "skipped") for e in monitor.executions.all())

    home = tmp_path / "home"
    login = _cli("login", asgi_server.url, "--token", raw, home=home)
    assert login.returncode == 0, login.stderr
    listed = _cli("monitors", "executions", str(monitor.pk), "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    rows = {e["number"]: e for e in json.loads(listed.stdout)}
    assert rows[scored.number]["rows"] == 120 and rows[first.number]["retrained"] is True

    paused = _cli("monitors", "pause", str(monitor.pk), home=home)
    assert paused.returncode == 0 and "paused" in paused.stdout
    assert not PeriodicTask.objects.get(pk=monitor.periodic_task_id).enabled
