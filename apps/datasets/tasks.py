"""Celery tasks for datasets: load ids, call the service, nothing else."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from .services import dataset_ingest


# Idempotent (a non-pending upload is left alone), so a redelivered or retried task is
# harmless; the service counts attempts so a worker killed mid-ingest cannot loop for ever.
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
    dataset_ingest(upload_id=upload_id)
