"""Recovery of lost work: the reaper (silent workers) and the sweeper (lost messages).

Both write Run rows through the same transitions as the task (``services``), so a run
requeued here is claimed, counted and audited exactly like a fresh one.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.common import claims

from .models import Run
from .services import (
    _enqueue_after_commit,
    _fail_locked,
    _finish,
    _holder_alive,
    _push_after_commit,
)

logger = logging.getLogger(__name__)


def _requeue_locked(run: Run, now, *, was_queued: bool) -> str:
    """Send a run whose message or worker was lost once more, or end it: the outcome's name."""
    if run.cancel_requested:
        _finish(run, Run.Status.CANCELLED, error="Cancelled on request.")
        audit_record(
            action="run.cancelled", tenant=run.tenant, target=run, details={"reaped": True}
        )
        _push_after_commit(run)
        return "cancelled"
    if run.attempts >= settings.RUN_MAX_ATTEMPTS:
        reason = "no worker picked the run up" if was_queued else "the worker stopped responding"
        _fail_locked(run, f"The run was stopped: {reason} (after {run.attempts} attempts).")
        return "failed"
    if was_queued:
        run.attempts += 1  # a lost message counts, so this cannot go on for ever
    run.status, run.stage, run.percent = Run.Status.QUEUED, Run.Stage.QUEUED, 0.0
    run.heartbeat_at = run.sent_at = now  # for queued runs: when it was (re)enqueued
    run.task_id = str(uuid.uuid4())
    run.eta_seconds = run.rows_per_second = None
    run.save()
    audit_record(
        action="run.requeued",
        tenant=run.tenant,
        target=run,
        details={"attempts": run.attempts, "was": "queued" if was_queued else "running"},
    )
    _enqueue_after_commit(run)
    _push_after_commit(run)
    return "requeued"


@transaction.atomic
def run_reap_stale(*, now=None) -> dict[str, int]:
    """Requeue (or fail) runs whose worker went quiet, and queued runs nobody picked up."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS)
    queued_before = now - timedelta(seconds=getattr(settings, "RUN_QUEUED_STALE_SECONDS", 6 * 3600))
    stale = Run.objects.select_for_update().filter(
        Q(status=Run.Status.RUNNING, heartbeat_at__lt=stale_before)
        | Q(status=Run.Status.RUNNING, heartbeat_at__isnull=True, created_at__lt=stale_before)
        | Q(status=Run.Status.QUEUED, heartbeat_at__lt=queued_before)
        | Q(status=Run.Status.QUEUED, heartbeat_at__isnull=True, created_at__lt=queued_before)
    )
    counts = {"requeued": 0, "failed": 0, "cancelled": 0}
    for run in stale:
        counts[_requeue_locked(run, now, was_queued=run.status == Run.Status.QUEUED)] += 1
    if any(counts.values()):
        logger.warning("reaper: %s", counts)
    return counts


def _older(name: str, before) -> Q:
    return Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__lt": before})


@transaction.atomic
def run_sweep(*, now=None) -> dict[str, int]:
    """Re-send queued runs nobody claimed, and requeue at once runs whose holder here died.

    Outbox style: the database says what should be happening, the broker may have lost it
    (a web process killed between commit and send, a broker restarted without its data, a
    worker killed with the message reserved). A run re-sent is harmless, since the claim
    drops a delivery for a run that is finished or held by a live process; re-sends of one
    run back off (30 s, 60 s, … up to RESEND_MAX_SECONDS) so a long queue is not flooded.
    """
    now = now or timezone.now()
    base = settings.RESEND_AFTER_SECONDS
    before = now - timedelta(seconds=base)
    counts = {"resent": 0, "requeued": 0, "failed": 0, "cancelled": 0}
    waiting = Run.objects.select_for_update(skip_locked=True).filter(
        _older("sent_at", before),
        _older("heartbeat_at", before),
        status=Run.Status.QUEUED,
        created_at__lt=before,
    )
    for run in waiting:
        last = max(t for t in (run.sent_at, run.heartbeat_at, run.created_at) if t is not None)
        if (now - last).total_seconds() < min(base * 2**run.sends, settings.RESEND_MAX_SECONDS):
            continue
        run.sends += 1
        run.sent_at = now
        run.save(update_fields=["sends", "sent_at"])
        _enqueue_after_commit(run)
        counts["resent"] += 1
    held_here = Run.objects.select_for_update(skip_locked=True).filter(
        status=Run.Status.RUNNING, holder_host=claims.current().host, holder_pid__isnull=False
    )
    for run in held_here:
        if not _holder_alive(run, now):
            counts[_requeue_locked(run, now, was_queued=False)] += 1
    if any(counts.values()):
        logger.warning("sweeper: %s", counts)
    return counts
