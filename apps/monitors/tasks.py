"""Celery tasks for monitors: load by id, call the services, nothing else."""

from __future__ import annotations

from celery import shared_task

from . import executions, schedules, services
from .models import Monitor, MonitorExecution


@shared_task(name="monitors.tick", ignore_result=True, time_limit=60, soft_time_limit=50)
def tick_monitor(monitor_id: int) -> None:
    """Beat's trigger of an interval / cron monitor (its PeriodicTask's kwargs name it)."""
    monitor = Monitor.objects.filter(pk=monitor_id).first()
    if monitor is None:  # deleted with its workspace: the orphaned beat entry goes too
        schedules.remove_orphan(monitor_id)
        return
    services.monitor_trigger(monitor=monitor, trigger=MonitorExecution.Trigger.SCHEDULE)


@shared_task(name="monitors.execute", acks_late=True, ignore_result=True, max_retries=0)
def execute_monitor(execution_id: int) -> None:
    executions.execution_run(execution_id=execution_id)


@shared_task(name="monitors.sweep", ignore_result=True, time_limit=120, soft_time_limit=100)
def sweep_monitors() -> dict:
    return executions.execution_sweep()
