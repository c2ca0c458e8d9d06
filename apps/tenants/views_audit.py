"""The audit console: a tenant's trail for its admins, every tenant's for staff; filters, pages, CSV."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, time

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from apps.audit.chain import verify
from apps.audit.models import AuditEvent
from apps.tenants.access import tenant_view
from apps.tenants.permissions import MANAGE

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=254, label="Actor")
    action = forms.CharField(required=False, max_length=64, label="Action")
    target = forms.CharField(
        required=False, max_length=130, label="Target", help_text="type, id or type:id"
    )
    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def filter(self, events: QuerySet) -> QuerySet:
        if not self.is_valid():
            return events.none()
        data = self.cleaned_data
        if data["actor"]:
            events = events.filter(actor_repr__icontains=data["actor"])
        if data["action"]:
            # "membership" matches every membership.* action; "membership.added" just that one.
            events = events.filter(action__startswith=data["action"])
        if data["target"]:
            kind, _, ident = data["target"].rpartition(":")
            events = (
                events.filter(target_type=kind, target_id=ident)
                if kind
                else events.filter(target_type=ident) | events.filter(target_id=ident)
            )
        tz = timezone.get_current_timezone()
        if data["start"]:
            events = events.filter(created_at__gte=datetime.combine(data["start"], time.min, tz))
        if data["end"]:
            events = events.filter(created_at__lte=datetime.combine(data["end"], time.max, tz))
        return events


def _console(request: HttpRequest, events: QuerySet, *, staff: bool) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    trail = events
    events = form.filter(events) if request.GET else events
    if request.GET.get("format") == "csv":
        return _csv(events, staff=staff)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "staff": staff}
    template = "audit/console.html"
    if request.htmx:
        template += "#audit-table"
    else:  # the whole trail (not the filtered view) is checked on each full page load
        context["verification"] = verify(trail)
    return render(request, template, context)


@tenant_view(perm=MANAGE)
def tenant_console(request: HttpRequest) -> HttpResponse:
    return _console(request, AuditEvent.objects.for_tenant(request.tenant), staff=False)


@login_required
def staff_console(request: HttpRequest) -> HttpResponse:
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied("The full audit trail is for staff only.")
    return _console(request, AuditEvent.objects.all(), staff=True)


# ---------------------------------------------------------------- CSV
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """A cell a spreadsheet shows as text: a leading quote before anything it would evaluate."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


HEADER = [
    "time (UTC)",
    "actor",
    "actor id",
    "action",
    "tenant id",
    "target type",
    "target id",
    "ip",
    "details",
]


def _rows(events: QuerySet, writer):
    yield writer.writerow(HEADER)
    for e in events.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                csv_safe(v)
                for v in (
                    e.created_at.astimezone(UTC).isoformat(),
                    e.actor_repr,
                    e.actor_id,
                    e.action,
                    e.tenant_id,
                    e.target_type,
                    e.target_id,
                    e.ip,
                    json.dumps(e.details, sort_keys=True, ensure_ascii=False),
                )
            ]
        )


def _csv(events: QuerySet, *, staff: bool) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(_rows(events, writer), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{"all" if staff else "workspace"}-{stamp}.csv"'
    )
    return response
