"""Monitor workflows: the only code that writes Monitor rows (and their beat schedule).

The execution workflow (what a trigger sets going, and how it ends) is in
:mod:`apps.monitors.executions`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest

from apps.audit.services import audit_record
from apps.datasets.models import Dataset
from apps.detectors.models import DetectorConfigVersion
from apps.sources.models import Source

from . import schedules
from .models import Monitor, MonitorExecution

logger = logging.getLogger(__name__)

Path = tuple[str, ...]

# The fields a user sets (form and API alike); the service checks them in one place.
FIELDS = (
    "name",
    "source",
    "dataset",
    "detector_version",
    "threshold",
    "schedule",
    "interval_seconds",
    "cron",
    "retrain",
    "retrain_every",
)


class MonitorInvalid(Exception):
    """A monitor that breaks a rule: ``errors`` holds ``(field, message)`` pairs ("" = whole)."""

    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__(errors[0][1])
        self.errors = errors


class MonitorStateError(Exception):
    """The monitor is not in a state that allows this (message meant for the user)."""


@dataclass
class MonitorInput:
    name: str
    detector_version: DetectorConfigVersion
    source: Source | None = None
    dataset: Dataset | None = None
    threshold: float | None = None
    schedule: str = Monitor.Schedule.INTERVAL
    interval_seconds: int | None = None
    cron: str = ""
    retrain: str = Monitor.Retrain.MANUAL
    retrain_every: int | None = None

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


def monitor_validate(*, tenant, data: MonitorInput, monitor: Monitor | None = None) -> None:
    """MonitorInvalid naming every bad field; nothing is written."""
    errors: list[tuple[str, str]] = []
    name = (data.name or "").strip()
    if not name:
        errors.append(("name", "A monitor needs a name."))
    elif len(name) > 200:
        errors.append(("name", "The name is too long (200 characters at most)."))
    else:
        taken = Monitor.objects.for_tenant(tenant).filter(name__iexact=name)
        if monitor is not None:
            taken = taken.exclude(pk=monitor.pk)
        if taken.exists():
            errors.append(("name", "A monitor with this name already exists in this workspace."))
    if (data.source is None) == (data.dataset is None):
        errors.append(("source", "Watch either a database source or a dataset (one of them)."))
    for field in ("source", "dataset", "detector_version"):
        obj = getattr(data, field)
        if obj is not None and obj.tenant_id != tenant.pk:
            errors.append((field, "Not found in this workspace."))
    if data.schedule not in Monitor.Schedule.values:
        errors.append(("schedule", f"Choose one of: {', '.join(Monitor.Schedule.values)}."))
    elif data.schedule == Monitor.Schedule.ON_NEW_VERSION and data.source is not None:
        errors.append(
            ("schedule", "A source is read on a schedule; 'on every new version' is for datasets.")
        )
    else:
        try:
            schedules.check(data.schedule, data.interval_seconds, data.cron)
        except schedules.ScheduleInvalid as exc:
            errors.append((exc.field, str(exc)))
    if data.retrain not in Monitor.Retrain.values:
        errors.append(("retrain", f"Choose one of: {', '.join(Monitor.Retrain.values)}."))
    elif data.retrain == Monitor.Retrain.EVERY_N and not (data.retrain_every or 0) >= 1:
        errors.append(("retrain_every", "Say after how many executions to refit (1 or more)."))
    if data.threshold is not None and data.threshold != data.threshold:  # NaN
        errors.append(("threshold", "The threshold must be a number."))
    if errors:
        raise MonitorInvalid(errors)


def _normalised(data: MonitorInput) -> dict[str, Any]:
    values = data.values()
    values["name"] = data.name.strip()
    values["cron"] = " ".join(data.cron.split()) if data.schedule == Monitor.Schedule.CRON else ""
    if data.schedule != Monitor.Schedule.INTERVAL:
        values["interval_seconds"] = None
    if data.retrain != Monitor.Retrain.EVERY_N:
        values["retrain_every"] = None
    return values


def _audit_values(monitor: Monitor) -> dict[str, Any]:
    return {
        "name": monitor.name,
        "source": monitor.source_id,
        "dataset": monitor.dataset_id,
        "detector_version": monitor.detector_version_id,
        "threshold": monitor.threshold,
        "schedule": monitor.schedule,
        "interval_seconds": monitor.interval_seconds,
        "cron": monitor.cron,
        "retrain": monitor.retrain,
        "retrain_every": monitor.retrain_every,
        "status": monitor.status,
    }


@transaction.atomic
def monitor_create(*, tenant, user, data: MonitorInput, request: HttpRequest | None = None):
    """Validate, write the monitor and its beat schedule; audited."""
    monitor_validate(tenant=tenant, data=data)
    monitor = Monitor.objects.create(tenant=tenant, created_by=user, **_normalised(data))
    schedules.sync(monitor)
    audit_record(
        action="monitor.created",
        actor=user,
        tenant=tenant,
        target=monitor,
        request=request,
        details=_audit_values(monitor),
    )
    return monitor


@transaction.atomic
def monitor_update(
    *, monitor: Monitor, user, data: MonitorInput, request: HttpRequest | None = None
) -> Monitor:
    """Change what and how the monitor watches; the schedule follows. Audited with before/after."""
    monitor_validate(tenant=monitor.tenant, data=data, monitor=monitor)
    monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
    before = _audit_values(monitor)
    values = _normalised(data)
    watched_changed = (values["source"], values["dataset"], values["detector_version"]) != (
        monitor.source,
        monitor.dataset,
        monitor.detector_version,
    )
    for key, value in values.items():
        setattr(monitor, key, value)
    if watched_changed:  # the old model was trained on other data or with another detector
        monitor.model = None
    monitor.save()
    schedules.sync(monitor)
    after = _audit_values(monitor)
    audit_record(
        action="monitor.updated",
        actor=user,
        tenant=monitor.tenant,
        target=monitor,
        request=request,
        details={
            "before": {k: v for k, v in before.items() if after[k] != v},
            "after": {k: v for k, v in after.items() if before[k] != v},
            "model_reset": watched_changed,
        },
    )
    return monitor


def _set_status(monitor: Monitor, status: str, user, request, action: str) -> Monitor:
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
        if monitor.status == status:
            raise MonitorStateError(
                f"The monitor is already {monitor.get_status_display().lower()}."
            )
        monitor.status = status
        monitor.save(update_fields=["status", "updated_at"])
        schedules.sync(monitor)
        audit_record(
            action=action, actor=user, tenant=monitor.tenant, target=monitor, request=request
        )
    return monitor


def monitor_pause(*, monitor: Monitor, user, request: HttpRequest | None = None) -> Monitor:
    """No more scheduled or new-version executions until resumed (run now still works)."""
    return _set_status(monitor, Monitor.Status.PAUSED, user, request, "monitor.paused")


def monitor_resume(*, monitor: Monitor, user, request: HttpRequest | None = None) -> Monitor:
    return _set_status(monitor, Monitor.Status.ACTIVE, user, request, "monitor.resumed")


@transaction.atomic
def monitor_delete(*, monitor: Monitor, user, request: HttpRequest | None = None) -> None:
    """Delete the monitor, its schedule and its execution history (the runs stay)."""
    monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
    audit_record(
        action="monitor.deleted",
        actor=user,
        tenant=monitor.tenant,
        target=monitor,
        request=request,
        details={**_audit_values(monitor), "executions": monitor.executions.count()},
    )
    schedules.remove(monitor)
    monitor.delete()


@transaction.atomic
def monitor_trigger(
    *,
    monitor: Monitor,
    trigger: str,
    user=None,
    request: HttpRequest | None = None,
) -> MonitorExecution | None:
    """A new pending execution, its task enqueued after commit; None when one is in flight.

    Beat and new versions only trigger active monitors; "run now" (``manual``) any monitor.
    """
    from .tasks import execute_monitor

    monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
    if trigger != MonitorExecution.Trigger.MANUAL and not monitor.is_active:
        return None
    busy = monitor.executions.filter(
        status__in=[MonitorExecution.Status.PENDING, MonitorExecution.Status.RUNNING]
    ).first()
    if busy is not None:
        if trigger == MonitorExecution.Trigger.MANUAL:
            raise MonitorStateError(f"Execution #{busy.number} is still {busy.status}.")
        logger.info(
            "monitor %s: execution #%s still in flight; tick skipped", monitor.pk, busy.number
        )
        return None
    number = (monitor.executions.aggregate(n=Max("number"))["n"] or 0) + 1
    execution = MonitorExecution.objects.create(
        tenant=monitor.tenant, monitor=monitor, number=number, trigger=trigger
    )
    if trigger == MonitorExecution.Trigger.MANUAL:
        audit_record(
            action="monitor.run_requested",
            actor=user,
            tenant=monitor.tenant,
            target=monitor,
            request=request,
            details={"execution": number},
        )
    execution_id = execution.pk
    transaction.on_commit(lambda: execute_monitor.delay(execution_id))
    return execution
