"""Celery tasks for datasets: load ids, call the service, nothing else."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from apps.common import claims
from apps.common.heartbeat import Heartbeat

from .recovery import upload_claim_key, upload_heartbeat, upload_hold, upload_sweep
from .services import dataset_ingest

logger = logging.getLogger(__name__)


# Idempotent (a non-pending upload is left alone, one held by a live process too), so a
# redelivered, re-sent or retried task is harmless; the service counts attempts so a worker
# killed mid-ingest cannot loop for ever.
@shared_task(
    name="datasets.ingest",
    acks_late=True,
    soft_time_limit=3000,
    time_limit=3300,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_jitter=True,
    max_retries=3,
)
def ingest(upload_id: int) -> None:
    if not upload_hold(upload_id=upload_id):
        return
    beat = Heartbeat(
        f"upload-{upload_id}",
        lambda: upload_heartbeat(upload_id=upload_id),
        settings.RUN_HEARTBEAT_SECONDS,
    )
    beat.start()
    logger.info("ingesting upload %s", upload_id)
    try:
        with claims.holding(upload_claim_key(upload_id)):
            dataset_ingest(upload_id=upload_id)
    finally:
        beat.stopped.set()
        beat.join(timeout=5)


@shared_task(name="datasets.sweep", ignore_result=True, time_limit=60, soft_time_limit=50)
def sweep_ingests() -> dict:
    return upload_sweep()
