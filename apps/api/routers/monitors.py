"""Monitors: create, change, pause/resume, run now; their executions with counts and drift."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field, field_validator

from apps.datasets.models import Dataset
from apps.detectors.models import DetectorConfig
from apps.monitors import schedules, selectors
from apps.monitors.models import Monitor, MonitorExecution
from apps.monitors.services import (
    MonitorInput,
    MonitorInvalid,
    MonitorStateError,
    monitor_create,
    monitor_delete,
    monitor_pause,
    monitor_resume,
    monitor_trigger,
    monitor_update,
)
from apps.sources.models import Source

from ..auth import write_auth
from ..errors import ApiProblem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from .common import LIMIT_DESCRIPTION, scoped_or_404

router = Router(tags=["monitors"])

ScheduleKind = Literal["interval", "cron", "on_new_version"]
RetrainKind = Literal["manual", "every_n", "on_drift"]


# ---------------------------------------------------------------- shapes
class MonitorIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    dataset_id: int | None = Field(default=None, ge=1)
    source_id: int | None = Field(default=None, ge=1)
    detector_config_id: int = Field(ge=1)
    threshold: float | None = None
    schedule: ScheduleKind = "interval"
    interval_seconds: int | None = Field(default=None, ge=1)
    cron: str = Field(default="", max_length=100)
    retrain: RetrainKind = "manual"
    retrain_every: int | None = Field(default=None, ge=1)

    @field_validator("name", "cron")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value.strip()


class MonitorPatch(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    dataset_id: int | None = Field(default=None, ge=1)
    source_id: int | None = Field(default=None, ge=1)
    detector_config_id: int | None = Field(default=None, ge=1)
    threshold: float | None = None
    schedule: ScheduleKind | None = None
    interval_seconds: int | None = Field(default=None, ge=1)
    cron: str | None = Field(default=None, max_length=100)
    retrain: RetrainKind | None = None
    retrain_every: int | None = Field(default=None, ge=1)


class ExecutionOut(Schema):
    id: int
    number: int
    status: str
    trigger: str
    retrained: bool
    rows: int
    anomalies: int
    max_severity: float | None
    flagged_share: float | None
    drift_detected: bool
    drift: dict[str, Any]
    error: str
    run_id: int | None
    dataset_version_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ExecutionPage(Schema):
    items: list[ExecutionOut]
    next_cursor: str | None


class MonitorOut(Schema):
    id: int
    name: str
    status: str
    dataset_id: int | None
    source_id: int | None
    detector_config_id: int
    detector_version_id: int
    threshold: float | None
    schedule: str
    interval_seconds: int | None
    cron: str
    retrain: str
    retrain_every: int | None
    model_id: int | None
    next_execution_at: datetime | None
    last_execution: ExecutionOut | None
    created_at: datetime
    updated_at: datetime


class MonitorPage(Schema):
    items: list[MonitorOut]
    next_cursor: str | None


# ---------------------------------------------------------------- helpers
def execution_out(e: MonitorExecution) -> dict:
    return {
        "id": e.pk,
        "number": e.number,
        "status": e.status,
        "trigger": e.trigger,
        "retrained": e.retrained,
        "rows": e.rows,
        "anomalies": e.anomalies,
        "max_severity": e.max_severity,
        "flagged_share": e.flagged_share,
        "drift_detected": e.drift_detected,
        "drift": e.drift or {},
        "error": e.error,
        "run_id": e.run_id,
        "dataset_version_id": e.dataset_version_id,
        "created_at": e.created_at,
        "started_at": e.started_at,
        "finished_at": e.finished_at,
    }


def monitor_out(m: Monitor) -> dict:
    last = selectors.latest_execution(m)
    return {
        "id": m.pk,
        "name": m.name,
        "status": m.status,
        "dataset_id": m.dataset_id,
        "source_id": m.source_id,
        "detector_config_id": m.detector_version.config_id,
        "detector_version_id": m.detector_version_id,
        "threshold": m.threshold,
        "schedule": m.schedule,
        "interval_seconds": m.interval_seconds,
        "cron": m.cron,
        "retrain": m.retrain,
        "retrain_every": m.retrain_every,
        "model_id": m.model_id,
        "next_execution_at": schedules.next_execution_at(m),
        "last_execution": execution_out(last) if last is not None else None,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


def _monitors(request: HttpRequest):
    return selectors.monitors_for(request.tenant)


def _invalid(exc: MonitorInvalid) -> ApiProblem:
    names = {
        "dataset": "dataset_id",
        "source": "source_id",
        "detector_version": "detector_config_id",
    }
    errors: list[dict[str, Any]] = [
        {"loc": ["body", names.get(f, f)] if f else ["body"], "msg": m} for f, m in exc.errors
    ]
    return ApiProblem(422, errors[0]["msg"], errors=errors, title="Validation failed")


def _input(request: HttpRequest, values: dict[str, Any]) -> MonitorInput:
    """The service's input from API values, ids looked up in the token's workspace (404 else)."""
    dataset = source = None
    if values.get("dataset_id") is not None:
        dataset = scoped_or_404(Dataset.objects.all(), request, values["dataset_id"], "dataset")
    if values.get("source_id") is not None:
        source = scoped_or_404(Source.objects.all(), request, values["source_id"], "source")
    config = scoped_or_404(
        DetectorConfig.objects.all(),
        request,
        values["detector_config_id"],
        "detector configuration",
    )
    version = config.current
    if version is None:
        raise ApiProblem(422, "This configuration has no version yet.")
    return MonitorInput(
        name=values["name"],
        dataset=dataset,
        source=source,
        detector_version=version,
        threshold=values.get("threshold"),
        schedule=values["schedule"],
        interval_seconds=values.get("interval_seconds"),
        cron=values.get("cron") or "",
        retrain=values["retrain"],
        retrain_every=values.get("retrain_every"),
    )


def _state(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except MonitorStateError as exc:
        raise ApiProblem(409, str(exc)) from None


# ---------------------------------------------------------------- endpoints
@router.get("", response=MonitorPage, summary="Monitors, newest first")
def list_monitors(
    request: HttpRequest,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
):
    return page(_monitors(request), limit=limit, cursor=cursor, serialize=monitor_out)


@router.post("", auth=write_auth, response={201: MonitorOut}, summary="Create a monitor")
def create_monitor(request: HttpRequest, body: MonitorIn):
    data = _input(request, body.model_dump())
    try:
        monitor = monitor_create(
            tenant=request.tenant, user=request.user, data=data, request=request
        )
    except MonitorInvalid as exc:
        raise _invalid(exc) from None
    return Status(201, monitor_out(monitor))


@router.get("/{int:monitor_id}", response=MonitorOut, summary="One monitor with its last execution")
def get_monitor(request: HttpRequest, monitor_id: int):
    return monitor_out(scoped_or_404(_monitors(request), request, monitor_id, "monitor"))


@router.patch(
    "/{int:monitor_id}",
    auth=write_auth,
    response=MonitorOut,
    summary="Change a monitor (fields left out keep their value)",
)
def update_monitor(request: HttpRequest, monitor_id: int, body: MonitorPatch):
    monitor = scoped_or_404(_monitors(request), request, monitor_id, "monitor")
    current = {
        "name": monitor.name,
        "dataset_id": monitor.dataset_id,
        "source_id": monitor.source_id,
        "detector_config_id": monitor.detector_version.config_id,
        "threshold": monitor.threshold,
        "schedule": monitor.schedule,
        "interval_seconds": monitor.interval_seconds,
        "cron": monitor.cron,
        "retrain": monitor.retrain,
        "retrain_every": monitor.retrain_every,
    }
    changes = body.model_dump(exclude_unset=True)
    if "dataset_id" in changes and changes["dataset_id"] is not None:
        current["source_id"] = None
    if "source_id" in changes and changes["source_id"] is not None:
        current["dataset_id"] = None
    data = _input(request, {**current, **changes})
    if data.detector_version.config_id == monitor.detector_version.config_id and (
        "detector_config_id" not in changes
    ):
        data.detector_version = monitor.detector_version  # unchanged: keep the version it had
    try:
        monitor = monitor_update(monitor=monitor, user=request.user, data=data, request=request)
    except MonitorInvalid as exc:
        raise _invalid(exc) from None
    return monitor_out(scoped_or_404(_monitors(request), request, monitor.pk, "monitor"))


@router.delete(
    "/{int:monitor_id}",
    auth=write_auth,
    response={204: None},
    summary="Delete a monitor and its execution history (its runs stay)",
)
def delete_monitor(request: HttpRequest, monitor_id: int):
    monitor = scoped_or_404(_monitors(request), request, monitor_id, "monitor")
    monitor_delete(monitor=monitor, user=request.user, request=request)
    return Status(204, None)


@router.post("/{int:monitor_id}/pause", auth=write_auth, response=MonitorOut, summary="Pause")
def pause_monitor(request: HttpRequest, monitor_id: int):
    monitor = scoped_or_404(_monitors(request), request, monitor_id, "monitor")
    _state(monitor_pause, monitor=monitor, user=request.user, request=request)
    return monitor_out(scoped_or_404(_monitors(request), request, monitor_id, "monitor"))


@router.post("/{int:monitor_id}/resume", auth=write_auth, response=MonitorOut, summary="Resume")
def resume_monitor(request: HttpRequest, monitor_id: int):
    monitor = scoped_or_404(_monitors(request), request, monitor_id, "monitor")
    _state(monitor_resume, monitor=monitor, user=request.user, request=request)
    return monitor_out(scoped_or_404(_monitors(request), request, monitor_id, "monitor"))


@router.post(
    "/{int:monitor_id}/run",
    auth=write_auth,
    response={202: ExecutionOut},
    summary="Run now: queue an execution (409 while one is in flight)",
)
def run_monitor(request: HttpRequest, monitor_id: int):
    monitor = scoped_or_404(_monitors(request), request, monitor_id, "monitor")
    execution = _state(
        monitor_trigger, monitor=monitor, trigger="manual", user=request.user, request=request
    )
    return Status(202, execution_out(execution))


@router.get(
    "/{int:monitor_id}/executions",
    response=ExecutionPage,
    summary="The monitor's executions, newest first (counts, drift per feature, run)",
)
def list_executions(
    request: HttpRequest,
    monitor_id: int,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
):
    monitor = scoped_or_404(_monitors(request), request, monitor_id, "monitor")
    return page(monitor.executions.all(), limit=limit, cursor=cursor, serialize=execution_out)


@router.get(
    "/{int:monitor_id}/executions/{int:number}",
    response=ExecutionOut,
    summary="One execution by its number",
)
def get_execution(request: HttpRequest, monitor_id: int, number: int):
    monitor = scoped_or_404(_monitors(request), request, monitor_id, "monitor")
    execution = monitor.executions.filter(number=number).first()
    if execution is None:
        raise ApiProblem(404, f"Monitor {monitor_id} has no execution {number}.")
    return execution_out(execution)
