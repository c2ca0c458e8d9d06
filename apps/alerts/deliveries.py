"""Deliveries: one per (trigger, channel), tried by a Celery task until it succeeds or gives up.

The database holds the truth, the broker only the nudge (outbox style): each attempt is a
``DeliveryAttempt`` row written before the send and completed after it; a delivery recorded
as delivered is never sent again; a message lost with a worker or the broker is re-sent by the
sweeper. A worker killed after sending but before recording leaves an attempt "sending" whose
holder is dead: the redelivered task marks it interrupted and sends again with the same
idempotency key, which the receiver uses to drop the copy.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.common import claims

from . import payloads
from .models import AlertTrigger, Channel, Delivery, DeliveryAttempt
from .transports import SENDERS, SendFailed

logger = logging.getLogger(__name__)


def claim_key(delivery_id: int) -> str:
    return f"alert-delivery:{delivery_id}"


def backoff_seconds(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: base × 2^(attempts-1), capped."""
    base = settings.ALERTS_RETRY_BASE_SECONDS
    return min(base * 2 ** max(0, attempts - 1), settings.ALERTS_RETRY_MAX_SECONDS)


def _enqueue(delivery_id: int, countdown: float = 0.0) -> None:
    from .tasks import deliver

    options = {"countdown": countdown} if countdown > 0 else {}
    deliver.apply_async(args=[delivery_id], **options)


def _enqueue_after_commit(delivery_id: int, countdown: float = 0.0) -> None:
    transaction.on_commit(lambda: _enqueue(delivery_id, countdown))


def delivery_create_all(*, trigger: AlertTrigger, channels) -> list[Delivery]:
    """A delivery per enabled channel, each sent by its own task once the caller commits."""
    now = timezone.now()
    created = []
    for channel in channels:
        if not channel.enabled:
            continue
        delivery = Delivery.objects.create(
            tenant=trigger.tenant,
            trigger=trigger,
            alert=trigger.alert,
            channel=channel,
            sent_at=now,
        )
        _enqueue_after_commit(delivery.pk)
        created.append(delivery)
    return created


def _holder_alive(attempt: DeliveryAttempt, now) -> bool:
    alive = claims.holder_alive(
        key=claim_key(attempt.delivery_id),
        host=attempt.holder_host,
        pid=attempt.holder_pid,
        started=attempt.holder_started,
    )
    if alive is not None:
        return alive
    limit = settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS + 30
    return (now - attempt.started_at).total_seconds() < limit


def _claim(delivery_id: int) -> tuple[Delivery, DeliveryAttempt] | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            # lock the delivery row only: the alert's monitor (or stream) is a nullable join
            Delivery.objects.select_for_update(of=("self",))
            .select_related("channel", "alert__tenant", "alert__monitor__tenant", "trigger")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status in Delivery.TERMINAL:
            return None
        if delivery.status == Delivery.Status.RETRYING and delivery.next_attempt_at:
            if (delivery.next_attempt_at - now).total_seconds() > 1:
                return None  # an early copy of the message: the scheduled one will come
        for stale in delivery.log.filter(status=DeliveryAttempt.Status.SENDING):
            if _holder_alive(stale, now):
                return None  # another process is sending it right now
            stale.status = DeliveryAttempt.Status.INTERRUPTED
            stale.error = "The worker stopped during this attempt (it may have been received)."
            stale.save(update_fields=["status", "error"])
        delivery.attempts += 1
        delivery.status = Delivery.Status.SENDING
        delivery.next_attempt_at = None
        delivery.save(update_fields=["attempts", "status", "next_attempt_at"])
        me = claims.current()
        attempt = DeliveryAttempt.objects.create(
            tenant=delivery.tenant,
            delivery=delivery,
            number=delivery.attempts,
            started_at=now,
            holder_host=me.host,
            holder_pid=me.pid,
            holder_started=me.started,
        )
    return delivery, attempt


def delivery_run(*, delivery_id: int) -> str:
    """One attempt of a delivery (the task's body); the outcome's name."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return "skipped"
    delivery, attempt = claimed
    code: int | None = None
    error, retry = "", False
    started = time.monotonic()
    with claims.holding(claim_key(delivery.pk)):
        try:
            payload = payloads.build(delivery)
            result = SENDERS[Channel.Kind(delivery.channel.kind)](delivery, payload)
            code = result if isinstance(result, int) else None
        except SendFailed as exc:
            error, code, retry = str(exc), exc.code, exc.retry
        except Exception as exc:  # a bug must fail the attempt on record, not loop
            logger.exception("delivery %s failed unexpectedly", delivery.pk)
            error, retry = f"internal error: {type(exc).__name__}", True
    latency_ms = (time.monotonic() - started) * 1000
    return _record(delivery, attempt, code=code, error=error, retry=retry, latency_ms=latency_ms)


@transaction.atomic
def _record(delivery, attempt, *, code, error, retry, latency_ms) -> str:
    now = timezone.now()
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    attempt.latency_ms, attempt.response_code, attempt.error = latency_ms, code, error[:2000]
    attempt.status = DeliveryAttempt.Status.FAILED if error else DeliveryAttempt.Status.SUCCEEDED
    attempt.save(update_fields=["latency_ms", "response_code", "error", "status"])
    if delivery.status == Delivery.Status.DELIVERED:
        return "delivered"  # a concurrent copy recorded first
    if not error:
        delivery.status, delivery.delivered_at, delivery.last_error = (
            Delivery.Status.DELIVERED,
            now,
            "",
        )
        outcome = "delivered"
    elif retry and delivery.attempts < settings.ALERTS_MAX_ATTEMPTS:
        wait = backoff_seconds(delivery.attempts)
        delivery.status = Delivery.Status.RETRYING
        delivery.next_attempt_at = now + timedelta(seconds=wait)
        delivery.sent_at = now
        delivery.last_error = error[:2000]
        _enqueue_after_commit(delivery.pk, countdown=wait)
        outcome = "retrying"
    else:
        delivery.status, delivery.last_error = Delivery.Status.FAILED, error[:2000]
        outcome = "failed"
    delivery.save()
    return outcome


@transaction.atomic
def deliveries_sweep(*, now=None) -> dict[str, int]:
    """Re-send deliveries whose message was lost: pending or due for retry, and not enqueued
    again for a while; and ones left "sending" by a dead worker."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.ALERTS_RESEND_AFTER_SECONDS)
    counts = {"resent": 0}
    waiting = Delivery.objects.select_for_update(skip_locked=True).filter(
        Q(status=Delivery.Status.PENDING, sent_at__lt=now - grace)
        | Q(status=Delivery.Status.RETRYING, next_attempt_at__lt=now - grace)
        | Q(status=Delivery.Status.SENDING, sent_at__lt=now - grace)
    )
    for delivery in waiting:
        if delivery.status == Delivery.Status.SENDING and any(
            _holder_alive(a, now)
            for a in delivery.log.filter(status=DeliveryAttempt.Status.SENDING)
        ):
            continue
        delivery.sent_at = now
        if delivery.status == Delivery.Status.RETRYING:
            delivery.next_attempt_at = now
        delivery.save(update_fields=["sent_at", "next_attempt_at"])
        _enqueue_after_commit(delivery.pk)
        counts["resent"] += 1
    if counts["resent"]:
        logger.warning("alert deliveries sweeper: %s", counts)
    return counts
