"""Alert pages: the list (open first), one alert with its delivery log, ack / snooze / resolve,
and marking in-app notifications read."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.tenants.access import tenant_view
from apps.tenants.permissions import CREATE

from . import selectors, services
from .forms import AlertFilterForm, SnoozeForm
from .requests import TenantRequest

PAGE_SIZE = 25


@tenant_view
def alert_list(request: TenantRequest) -> HttpResponse:
    form = AlertFilterForm(request.GET or None, tenant=request.tenant)
    alerts = selectors.alerts_ordered(form.filter(selectors.alerts_for(request.tenant)))
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "alerts/list.html" + ("#alert-list" if request.htmx else "")
    return render(request, template, {"form": form, "page": page, "query": query.urlencode()})


@tenant_view
def detail(request: TenantRequest, alert_id: int) -> HttpResponse:
    alert = selectors.get_alert_for_member(request, alert_id)
    context = {
        "alert": alert,
        "triggers": alert.triggers.select_related("execution").order_by("-created_at")[:50],
        "log": selectors.delivery_log(alert),
        "snooze_form": SnoozeForm(),
    }
    return render(request, "alerts/detail.html", context)


def _act(request: TenantRequest, alert_id: int, action, done: str) -> HttpResponse:
    alert = selectors.get_alert_for_member(request, alert_id)
    try:
        action(alert)
    except services.AlertStateError as exc:
        messages.error(request, str(exc))
    except services.Invalid as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect(alert.url())


@require_POST
@tenant_view(perm=CREATE)
def acknowledge(request: TenantRequest, alert_id: int) -> HttpResponse:
    return _act(
        request,
        alert_id,
        lambda a: services.alert_acknowledge(alert=a, user=request.user, request=request),
        "Alert acknowledged: further matches are counted without notifying.",
    )


@require_POST
@tenant_view(perm=CREATE)
def snooze(request: TenantRequest, alert_id: int) -> HttpResponse:
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        alert = selectors.get_alert_for_member(request, alert_id)
        messages.error(request, "Choose how long to snooze.")
        return redirect(alert.url())
    return _act(
        request,
        alert_id,
        lambda a: services.alert_snooze(
            alert=a, user=request.user, until=form.until(), request=request
        ),
        f"Alert snoozed for {form.cleaned_data['hours']} h.",
    )


@require_POST
@tenant_view(perm=CREATE)
def resolve(request: TenantRequest, alert_id: int) -> HttpResponse:
    return _act(
        request,
        alert_id,
        lambda a: services.alert_resolve(alert=a, user=request.user, request=request),
        "Alert resolved; the next match opens a new one.",
    )


@require_POST
@tenant_view
def notifications_read(request: TenantRequest) -> HttpResponse:
    raw = request.POST.getlist("id")
    ids = [int(i) for i in raw if i.isdigit()] if raw else None
    services.notifications_mark_read(user=request.user, tenant=request.tenant, ids=ids)
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("tenants:dashboard", tenant_slug=request.tenant.slug)
