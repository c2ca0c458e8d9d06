"""Reads for monitor pages and the API: access helper, history, latest anomalies."""

from __future__ import annotations

from django.http import HttpRequest

from apps.tenants.access import get_scoped_or_404, require
from apps.tenants.permissions import CREATE

from .models import Monitor, MonitorExecution

HISTORY = 100


def monitors_for(tenant):
    return Monitor.objects.for_tenant(tenant).select_related(
        "source",
        "dataset",
        "detector_version__config",
        "periodic_task__interval",
        "periodic_task__crontab",
        "model",
    )


def get_monitor_for_member(
    request: HttpRequest, monitor_id: int, *, write: bool = False
) -> Monitor:
    """The tenant's monitor or 404; ``write`` also demands the CREATE permission (else 403)."""
    tenant = request.tenant  # type: ignore[attr-defined]  # set by tenant_view
    monitor = get_scoped_or_404(request, monitors_for(tenant), pk=monitor_id)
    if write:
        require(request, CREATE)
    return monitor


def executions(monitor: Monitor, limit: int = HISTORY) -> list[MonitorExecution]:
    """The latest ``limit`` executions, newest first."""
    return list(
        monitor.executions.select_related("run", "dataset_version").order_by("-number")[:limit]
    )


def latest_execution(monitor: Monitor) -> MonitorExecution | None:
    return monitor.executions.order_by("-number").first()


def latest_anomalies(history: list[MonitorExecution], limit: int = 20) -> list[dict]:
    """The highest-scoring flagged rows of the recent executions (from each run's summary)."""
    rows = []
    for execution in history:
        run = execution.run
        if run is None or execution.status != MonitorExecution.Status.SUCCEEDED:
            continue
        threshold = run.threshold
        for top in (run.summary or {}).get("top") or []:
            if threshold is not None and top["score"] <= threshold:
                continue
            rows.append(
                {
                    "execution": execution,
                    "run": run,
                    "row": top["row"],
                    "score": top["score"],
                    "severity": top.get("severity"),
                    "url": run.url("results", sort="score", dir="desc"),
                }
            )
    rows.sort(key=lambda r: (-r["execution"].number, -r["score"]))
    return rows[:limit]


def drift_rows(execution: MonitorExecution | None) -> list[dict]:
    """The execution's drift per feature, drifted first, for the table."""
    if execution is None or not execution.drift:
        return []
    features = execution.drift.get("features") or {}
    rows = [{"name": name, **values} for name, values in features.items()]
    rows.sort(key=lambda r: (not r.get("drifted"), r["name"]))
    return rows
