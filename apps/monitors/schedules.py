"""A monitor's schedule as a django-celery-beat PeriodicTask: written, changed, paused with it.

Beat runs with ``django_celery_beat.schedulers:DatabaseScheduler`` (Procfile), which reads
these rows and notices changes by itself; the periodic task only *triggers* the monitor
(``monitors.tick``), the execution's work is another task. "On every new dataset version"
monitors have no periodic task: a signal from the dataset services triggers them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from .models import Monitor

TICK_TASK = "monitors.tick"
MIN_INTERVAL_SECONDS = 5


class ScheduleInvalid(ValueError):
    """A cron expression or interval that cannot be scheduled (message meant for the user)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def task_name(monitor: Monitor) -> str:
    return f"monitor-{monitor.pk}"


def cron_parts(expression: str) -> tuple[str, str, str, str, str]:
    """The five fields of a cron expression (minute hour day-of-month month day-of-week), checked."""
    from celery.schedules import crontab

    parts = expression.split()
    if len(parts) != 5:
        raise ScheduleInvalid(
            "cron",
            "A cron expression has five fields: minute hour day-of-month month day-of-week "
            "(e.g. '*/15 * * * *').",
        )
    minute, hour, day_of_month, month, day_of_week = parts
    try:
        crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )
    except (ValueError, TypeError) as exc:
        raise ScheduleInvalid("cron", f"Not a valid cron expression: {exc}") from None
    return minute, hour, day_of_month, month, day_of_week


def check(schedule: str, interval_seconds: int | None, cron: str) -> None:
    """ScheduleInvalid unless the schedule's own field is usable."""
    if schedule == Monitor.Schedule.INTERVAL:
        if not interval_seconds or interval_seconds < MIN_INTERVAL_SECONDS:
            raise ScheduleInvalid(
                "interval_seconds",
                f"An interval of at least {MIN_INTERVAL_SECONDS} seconds is needed.",
            )
    elif schedule == Monitor.Schedule.CRON:
        cron_parts(cron)


def _schedule_fields(monitor: Monitor) -> dict:
    if monitor.schedule == Monitor.Schedule.INTERVAL:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=int(monitor.interval_seconds or MIN_INTERVAL_SECONDS),
            period=IntervalSchedule.SECONDS,
        )
        return {"interval": interval, "crontab": None}
    minute, hour, day_of_month, month, day_of_week = cron_parts(monitor.cron)
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month,
        day_of_week=day_of_week,
        timezone="UTC",
    )
    return {"interval": None, "crontab": crontab}


def sync(monitor: Monitor) -> PeriodicTask | None:
    """Make the monitor's periodic task match it (create, change, enable/disable, or delete).

    Call inside the transaction that saved the monitor; saving a PeriodicTask bumps
    django-celery-beat's change marker, so a running beat reloads its schedule.
    """
    task = monitor.periodic_task
    if monitor.schedule == Monitor.Schedule.ON_NEW_VERSION:
        if task is not None:
            Monitor.objects.filter(pk=monitor.pk).update(periodic_task=None)
            monitor.periodic_task = None
            task.delete()
        return None
    fields = {
        **_schedule_fields(monitor),
        "task": TICK_TASK,
        "kwargs": json.dumps({"monitor_id": monitor.pk}),
        "enabled": monitor.is_active,
        "description": f"Monitor {monitor.name!r} of workspace {monitor.tenant.slug}",
        # An execution that waited longer than the interval for a worker is dropped, not piled up.
        "expire_seconds": (
            int(monitor.interval_seconds or MIN_INTERVAL_SECONDS)
            if monitor.schedule == Monitor.Schedule.INTERVAL
            else None
        ),
    }
    if task is None:
        task = PeriodicTask.objects.create(name=task_name(monitor), **fields)
        Monitor.objects.filter(pk=monitor.pk).update(periodic_task=task)
        monitor.periodic_task = task
    else:
        for key, value in fields.items():
            setattr(task, key, value)
        task.save()
    return task


def remove(monitor: Monitor) -> None:
    if monitor.periodic_task_id is not None:
        PeriodicTask.objects.filter(pk=monitor.periodic_task_id).delete()


def remove_orphan(monitor_id: int) -> None:
    """Delete the beat entry of a monitor that no longer exists."""
    PeriodicTask.objects.filter(name=f"monitor-{int(monitor_id)}", task=TICK_TASK).delete()


def next_execution_at(monitor: Monitor, now: datetime | None = None) -> datetime | None:
    """When beat will next trigger the monitor (None: paused, or triggered by new versions)."""
    task = monitor.periodic_task
    if not monitor.is_active or task is None or not task.enabled:
        return None
    now = now or timezone.now()
    if task.interval_id is not None:
        every = timedelta(seconds=task.interval.every)
        last = task.last_run_at or task.date_changed or now
        return max(now, last + every)
    if task.crontab_id is not None:
        remaining = task.crontab.schedule.remaining_estimate(task.last_run_at or now)
        return now + max(remaining, timedelta(0))
    return None
