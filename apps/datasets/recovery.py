"""Recovery of lost ingests: who holds an upload, its heartbeat, and the sweeper.

An ingest message may be lost (a web process killed between commit and send, a broker
restarted without its data) or its worker killed; the database says what should be
happening, and the sweeper sends it again. Ingest is idempotent, so a re-send is harmless.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.common import claims

from . import services
from .models import Upload

log = logging.getLogger(__name__)


def upload_claim_key(upload_id: int) -> str:
    return f"upload:{upload_id}"


def _upload_holder_alive(upload: Upload, now, *, silent_for: float) -> bool:
    """Whether the process that claimed this upload still ingests it."""
    return claims.row_holder_alive(
        upload, key=upload_claim_key(upload.pk), now=now, silent_for=silent_for
    )


def upload_hold(*, upload_id: int) -> bool:
    """Record this process as the upload's ingester; False when it is done or held by a live one.

    A re-sent or redelivered ingest message is then harmless: while one process ingests the
    upload, a second delivery leaves it alone; when that process died, the next one resumes.
    """
    now = timezone.now()
    with transaction.atomic():
        upload = Upload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None or upload.status != Upload.Status.PENDING:
            return False
        silent_for = 3 * settings.RUN_HEARTBEAT_SECONDS
        if upload.holder_pid is not None and _upload_holder_alive(
            upload, now, silent_for=silent_for
        ):
            log.info("upload %s is held by a live worker; duplicate delivery ignored", upload_id)
            return False
        holder = claims.current()
        upload.holder_host, upload.holder_pid = holder.host, holder.pid
        upload.holder_started, upload.heartbeat_at = holder.started, now
        upload.save(update_fields=["holder_host", "holder_pid", "holder_started", "heartbeat_at"])
    return True


def upload_heartbeat(*, upload_id: int) -> None:
    Upload.objects.filter(pk=upload_id, status=Upload.Status.PENDING).update(
        heartbeat_at=timezone.now()
    )


def upload_sweep(*, now=None) -> dict[str, int]:
    """Re-send the ingest of pending uploads that no live process holds (a lost message).

    Never claimed and older than RESEND_AFTER_SECONDS, or claimed by a process that died
    (same host: its pid; elsewhere: a heartbeat older than RUN_STALE_AFTER_SECONDS). Re-sends
    of one upload back off (30 s, 60 s, … up to RESEND_MAX_SECONDS); the ingest counts its
    attempts, so an upload that kills its worker every time ends failed.
    """
    now = now or timezone.now()
    base = settings.RESEND_AFTER_SECONDS
    before = now - timedelta(seconds=base)
    counts = {"resent": 0}
    with transaction.atomic():
        pending = Upload.objects.select_for_update(skip_locked=True).filter(
            status=Upload.Status.PENDING
        )
        for upload in pending:
            if upload.holder_pid is not None:
                if _upload_holder_alive(upload, now, silent_for=settings.RUN_STALE_AFTER_SECONDS):
                    continue
                wait = base  # its holder died, and the message with it
            elif upload.created_at >= before:
                continue
            else:
                wait = min(base * 2**upload.sends, settings.RESEND_MAX_SECONDS)
            if upload.sent_at is not None and (now - upload.sent_at).total_seconds() < wait:
                continue
            upload.sends, upload.sent_at = upload.sends + 1, now
            upload.save(update_fields=["sends", "sent_at"])
            transaction.on_commit(partial(services._enqueue_ingest, upload.pk))
            counts["resent"] += 1
    if counts["resent"]:
        log.warning("ingest sweeper: %s", counts)
    return counts
