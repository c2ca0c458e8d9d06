"""Claims name their holder; a dead holder is resumed at once; lost messages are re-sent."""

import socket
import subprocess
import sys
from datetime import timedelta

import psutil
import pytest
from django.utils import timezone

from apps.common import claims
from apps.runs import recovery, services
from apps.runs.models import Run
from apps.runs.tasks import execute_run

from .factories import blobs, make_config, make_run, make_version

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield psutil.Process(proc.pid)
    proc.kill()
    proc.wait()


@pytest.fixture
def held_run(alice, tenant_a):
    """A run that some process claimed a moment ago (fresh heartbeat)."""

    config = make_config(tenant_a, alice)

    def make(*, host: str, pid: int, started: float | None, heartbeat_age: float = 0.0):
        return make_run(
            tenant_a,
            alice,
            make_version(tenant_a, blobs(100)),
            config,
            status=Run.Status.RUNNING,
            attempts=1,
            heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age),
            holder_host=host,
            holder_pid=pid,
            holder_started=started,
        )

    return make


def test_the_claim_records_the_holding_process(alice, tenant_a):
    run = make_run(
        tenant_a, alice, make_version(tenant_a, blobs(100)), make_config(tenant_a, alice)
    )
    execute_run(run.pk)
    run.refresh_from_db()
    me = claims.current()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert (run.holder_host, run.holder_pid) == (socket.gethostname(), me.pid)
    assert run.holder_started == pytest.approx(psutil.Process().create_time())


def test_a_redelivery_resumes_at_once_when_the_holder_on_this_host_is_dead(held_run, dead_pid):
    run = held_run(host=socket.gethostname(), pid=dead_pid, started=1.0)
    execute_run(run.pk)  # the heartbeat is fresh, yet nobody works on the run any more
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.attempts == 2


def test_a_redelivery_is_dropped_while_the_holder_lives(held_run, live_process):
    run = held_run(
        host=socket.gethostname(), pid=live_process.pid, started=live_process.create_time()
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING and run.attempts == 1
    assert run.holder_pid == live_process.pid


def test_a_pid_reused_by_a_newer_process_is_a_dead_holder(held_run, live_process):
    run = held_run(
        host=socket.gethostname(), pid=live_process.pid, started=live_process.create_time() - 60
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED and run.attempts == 2


def test_this_process_as_holder_is_dead_once_it_no_longer_works_on_the_run(held_run):
    me = claims.current()
    run = held_run(host=me.host, pid=me.pid, started=me.started)
    with claims.holding(services.run_claim_key(run.pk)):
        execute_run(run.pk)  # another thread of this process still works on it
        run.refresh_from_db()
        assert run.status == Run.Status.RUNNING
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED


def test_another_hosts_holder_is_judged_by_its_heartbeat(held_run, settings):
    settings.RUN_HEARTBEAT_SECONDS = 5
    fresh = held_run(host="elsewhere.example", pid=1, started=1.0)
    quiet = held_run(host="elsewhere.example", pid=1, started=1.0, heartbeat_age=60)
    execute_run(fresh.pk)
    execute_run(quiet.pk)
    fresh.refresh_from_db()
    quiet.refresh_from_db()
    assert fresh.status == Run.Status.RUNNING
    assert quiet.status == Run.Status.SUCCEEDED


# ---------------------------------------------------------------- the sweeper
@pytest.fixture
def sent(monkeypatch):
    from apps.runs import tasks

    messages = []
    monkeypatch.setattr(
        tasks.execute_run, "apply_async", lambda args, task_id: messages.append(args[0])
    )
    return messages


def _age(run, seconds: float) -> None:
    Run.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def test_the_sweeper_resends_a_queued_run_nobody_claimed_and_backs_off(
    alice, tenant_a, settings, sent, django_capture_on_commit_callbacks
):
    settings.RESEND_AFTER_SECONDS = 30
    lost = make_run(
        tenant_a, alice, make_version(tenant_a, blobs(100)), make_config(tenant_a, alice)
    )
    young = make_run(tenant_a, alice, lost.dataset_version, lost.detector_version.config)
    _age(lost, 40)
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.run_sweep()["resent"] == 1
    assert sent == [lost.pk]
    lost.refresh_from_db()
    assert lost.sends == 1 and lost.status == Run.Status.QUEUED and lost.attempts == 0
    # Still unclaimed 45 s on: the young run's first re-send; the lost one waits twice as long.
    with django_capture_on_commit_callbacks(execute=True):
        recovery.run_sweep(now=timezone.now() + timedelta(seconds=45))
    assert sent == [lost.pk, young.pk]
    with django_capture_on_commit_callbacks(execute=True):
        recovery.run_sweep(now=timezone.now() + timedelta(seconds=65))
    assert sent == [lost.pk, young.pk, lost.pk]


def test_the_sweeper_requeues_a_run_whose_holder_here_died_and_leaves_live_ones(
    held_run, dead_pid, live_process, sent, django_capture_on_commit_callbacks
):
    here = socket.gethostname()
    dead = held_run(host=here, pid=dead_pid, started=1.0)
    alive = held_run(host=here, pid=live_process.pid, started=live_process.create_time())
    elsewhere = held_run(host="elsewhere.example", pid=dead_pid, started=1.0)
    with django_capture_on_commit_callbacks(execute=True):
        counts = recovery.run_sweep()
    assert counts["requeued"] == 1 and sent == [dead.pk]
    for run in (dead, alive, elsewhere):
        run.refresh_from_db()
    assert dead.status == Run.Status.QUEUED
    assert alive.status == Run.Status.RUNNING and elsewhere.status == Run.Status.RUNNING


def test_a_requeued_run_out_of_attempts_is_failed_by_the_sweeper(
    held_run, dead_pid, settings, sent
):
    settings.RUN_MAX_ATTEMPTS = 1
    run = held_run(host=socket.gethostname(), pid=dead_pid, started=1.0)
    assert recovery.run_sweep()["failed"] == 1
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and "the worker stopped responding" in run.error
