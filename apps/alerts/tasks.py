"""Celery tasks for alerts: load by id, call the delivery service, nothing else."""

from __future__ import annotations

from celery import shared_task

from . import deliveries


# acks_late (settings) + reject_on_worker_lost: a child killed mid-send is redelivered; the
# service's attempt rows and the idempotency key make that harmless.
@shared_task(name="alerts.deliver", acks_late=True, ignore_result=True, max_retries=0,
             time_limit=120, soft_time_limit=90)  # fmt: skip
def deliver(delivery_id: int) -> str:
    return deliveries.delivery_run(delivery_id=delivery_id)


@shared_task(name="alerts.sweep", ignore_result=True, time_limit=60, soft_time_limit=50)
def sweep_deliveries() -> dict:
    return deliveries.deliveries_sweep()
