"""Monitor pages: list, create/edit, the monitor page (history, drift, anomalies), actions."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.tenants.access import tenant_view
from apps.tenants.permissions import CREATE

from . import charts, schedules, selectors
from .forms import MonitorForm
from .models import Monitor
from .services import (
    MonitorInvalid,
    MonitorStateError,
    monitor_create,
    monitor_delete,
    monitor_pause,
    monitor_resume,
    monitor_trigger,
    monitor_update,
)


def _detail_url(monitor: Monitor) -> str:
    return reverse(
        "monitors:detail", kwargs={"tenant_slug": monitor.tenant.slug, "monitor_id": monitor.pk}
    )


@tenant_view
def list(request: HttpRequest) -> HttpResponse:  # noqa: A001 - the URL name base.html uses
    monitors = selectors.monitors_for(request.tenant)
    rows = [
        {
            "monitor": m,
            "last": selectors.latest_execution(m),
            "next": schedules.next_execution_at(m),
        }
        for m in monitors
    ]
    return render(request, "monitors/list.html", {"rows": rows})


def _save(request: HttpRequest, form: MonitorForm, monitor: Monitor | None) -> Monitor | None:
    if not form.is_valid():
        return None
    assert form.input is not None
    try:
        if monitor is None:
            return monitor_create(
                tenant=request.tenant, user=request.user, data=form.input, request=request
            )
        return monitor_update(monitor=monitor, user=request.user, data=form.input, request=request)
    except MonitorInvalid as exc:  # a concurrent change took the name
        for _field, message in exc.errors:
            form.add_error(None, message)
        return None


@tenant_view(perm=CREATE)
def create(request: HttpRequest) -> HttpResponse:
    form = MonitorForm(request.POST or None, tenant=request.tenant)
    if request.method == "POST" and (monitor := _save(request, form, None)) is not None:
        messages.success(request, f"Monitor “{monitor.name}” created.")
        return redirect(_detail_url(monitor))
    status = 400 if form.is_bound else 200
    return render(request, "monitors/form.html", {"form": form}, status=status)


@tenant_view(perm=CREATE)
def edit(request: HttpRequest, monitor_id: int) -> HttpResponse:
    monitor = selectors.get_monitor_for_member(request, monitor_id, write=True)
    form = MonitorForm(request.POST or None, tenant=request.tenant, monitor=monitor)
    if request.method == "POST" and _save(request, form, monitor) is not None:
        messages.success(request, "Monitor saved.")
        return redirect(_detail_url(monitor))
    status = 400 if form.is_bound else 200
    return render(request, "monitors/form.html", {"form": form, "monitor": monitor}, status=status)


@tenant_view
def detail(request: HttpRequest, monitor_id: int) -> HttpResponse:
    monitor = selectors.get_monitor_for_member(request, monitor_id)
    history = selectors.executions(monitor)
    wanted = request.GET.get("execution", "")
    shown = next((e for e in history if str(e.number) == wanted), None)
    shown = shown or next((e for e in history if e.drift), None)
    context = {
        "monitor": monitor,
        "history": history,
        "next_at": schedules.next_execution_at(monitor),
        "figure": charts.history_figure(history[::-1]),
        "anomalies": selectors.latest_anomalies(history),
        "drift_execution": shown,
        "drift_rows": selectors.drift_rows(shown),
    }
    template = "monitors/detail.html"
    if request.htmx and request.htmx.target == "monitor-drift":
        template += "#monitor-drift"
    return render(request, template, context)


def _action(request: HttpRequest, monitor_id: int, verb) -> HttpResponse:
    monitor = selectors.get_monitor_for_member(request, monitor_id, write=True)
    try:
        message = verb(monitor)
    except MonitorStateError as exc:
        messages.warning(request, str(exc))
    else:
        messages.success(request, message)
    return redirect(_detail_url(monitor))


@require_POST
@tenant_view(perm=CREATE)
def pause(request: HttpRequest, monitor_id: int) -> HttpResponse:
    def verb(m):
        monitor_pause(monitor=m, user=request.user, request=request)
        return "Monitor paused: no scheduled executions until you resume it."

    return _action(request, monitor_id, verb)


@require_POST
@tenant_view(perm=CREATE)
def resume(request: HttpRequest, monitor_id: int) -> HttpResponse:
    def verb(m):
        monitor_resume(monitor=m, user=request.user, request=request)
        return "Monitor resumed."

    return _action(request, monitor_id, verb)


@require_POST
@tenant_view(perm=CREATE)
def run_now(request: HttpRequest, monitor_id: int) -> HttpResponse:
    def verb(m):
        execution = monitor_trigger(monitor=m, trigger="manual", user=request.user, request=request)
        assert execution is not None  # a manual trigger raises instead of returning None
        assert execution is not None  # a manual trigger raises instead of returning None
        return f"Execution #{execution.number} queued."

    return _action(request, monitor_id, verb)


@require_POST
@tenant_view(perm=CREATE)
def delete(request: HttpRequest, monitor_id: int) -> HttpResponse:
    monitor = selectors.get_monitor_for_member(request, monitor_id, write=True)
    monitor_delete(monitor=monitor, user=request.user, request=request)
    messages.success(request, f"Monitor “{monitor.name}” deleted; its runs are kept.")
    return redirect("monitors:list", tenant_slug=request.tenant.slug)
