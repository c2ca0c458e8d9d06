"""Celery tasks: log one run to MLflow (retried with backoff) and the sweeper for lost ones."""

from __future__ import annotations

from celery import shared_task

from . import services
from .models import MlflowSync


@shared_task(
    name="mlflow_sync.log_run",
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
)
def log_run(sync_id: int) -> None:
    sync = MlflowSync.objects.filter(pk=sync_id).first()
    if sync is None or sync.status == MlflowSync.Status.LOGGED:
        return
    services.log(sync)


@shared_task(name="mlflow_sync.sweep", ignore_result=True, time_limit=60, soft_time_limit=50)
def sweep() -> int:
    return services.sweep()
