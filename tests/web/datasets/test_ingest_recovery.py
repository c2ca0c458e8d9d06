"""Ingest claims and the ingest sweeper: a lost or orphaned ingest is sent again."""

import socket
import subprocess
import sys
from datetime import timedelta

import psutil
import pytest
from django.utils import timezone

from apps.datasets import recovery
from apps.datasets.models import Dataset, Upload
from apps.datasets.tasks import ingest

from .helpers import post_file, write


@pytest.fixture
def pending(alice_client, tenant_a, tmp_path):
    """A pending upload whose ingest message never left (the test sends none)."""
    post_file(alice_client, tenant_a, write("csv", tmp_path), name="sensors")
    return Upload.objects.get()


@pytest.fixture
def sent(monkeypatch):
    from apps.datasets import tasks

    messages = []
    monkeypatch.setattr(tasks.ingest, "delay", messages.append)
    return messages


def _set(upload, **fields):
    Upload.objects.filter(pk=upload.pk).update(**fields)
    upload.refresh_from_db()


def test_the_sweeper_resends_an_upload_nobody_claimed(
    pending, sent, settings, django_capture_on_commit_callbacks
):
    settings.RESEND_AFTER_SECONDS = 30
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            recovery.upload_sweep()["resent"] == 0
        )  # just uploaded: its message may be on its way
    _set(pending, created_at=timezone.now() - timedelta(seconds=40))
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.upload_sweep()["resent"] == 1
        assert recovery.upload_sweep()["resent"] == 0  # backs off
    assert sent == [pending.pk]
    pending.refresh_from_db()
    assert pending.sends == 1


def test_the_sweeper_resends_an_upload_whose_ingesting_process_died(
    pending, sent, django_capture_on_commit_callbacks
):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    _set(
        pending,
        holder_host=socket.gethostname(),
        holder_pid=proc.pid,
        holder_started=1.0,
        heartbeat_at=timezone.now(),
        attempts=1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.upload_sweep()["resent"] == 1
    assert sent == [pending.pk]


def test_a_delivery_leaves_an_upload_a_live_process_ingests_alone(
    pending, sent, django_capture_on_commit_callbacks
):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _set(
            pending,
            holder_host=socket.gethostname(),
            holder_pid=proc.pid,
            holder_started=psutil.Process(proc.pid).create_time(),
            created_at=timezone.now() - timedelta(hours=1),
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert recovery.upload_sweep()["resent"] == 0
        ingest(pending.pk)
        pending.refresh_from_db()
        assert pending.status == Upload.Status.PENDING and pending.attempts == 0
    finally:
        proc.kill()
        proc.wait()
    ingest(pending.pk)  # its holder is gone: this delivery ingests it
    pending.refresh_from_db()
    assert pending.status == Upload.Status.DONE and pending.attempts == 1
    assert pending.holder_pid == psutil.Process().pid
    assert Dataset.objects.get().status == Dataset.Status.READY
