"""The workspace overview: widgets the member arranges, or the guided first run.

The layout is the member's own view of the workspace (like a column choice), not a change to
the workspace's content, so its edits are not written to the audit trail; they need the VIEW
permission only (viewers arrange their overview too) and every object a widget names must be
the workspace's (404 otherwise). The demo-data button creates datasets, so it needs CREATE and
goes through the dataset upload service, which audits it like any upload.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.alerts.requests import TenantRequest
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_create_from_path
from apps.tenants.access import tenant_view
from apps.tenants.permissions import CREATE

from . import selectors
from .widgets import KINDS, LayoutError, clean_widget

DEMO_NAME = "Card payments (demo, labelled)"


def _widgets(request: TenantRequest, layout: list[dict]) -> list[dict]:
    out = []
    for index, widget in enumerate(layout):
        out.append(
            {
                "index": index,
                "widget": widget,
                "kind": KINDS[widget["type"]],
                "template": f"dashboard/widgets/{widget['type']}.html",
                "data": selectors.widget_context(request, widget),
                "chart_id": f"chart-{index}",
            }
        )
    return out


def _page_context(request: TenantRequest, layout: list[dict]) -> dict:
    widgets = _widgets(request, layout)
    return {
        "widgets": widgets,
        "last": len(widgets) - 1,
        "kinds": KINDS.values(),
        "choices": selectors.choices(request.tenant),
        "has_chart": any(
            w["data"].get("live")
            or (w["data"].get("figure") and not w["data"]["figure"].get("empty"))
            for w in widgets
        ),
    }


def home(request: TenantRequest) -> HttpResponse:
    """Called by ``tenants.views.dashboard`` (which checks membership) for ``/t/<slug>/``."""
    tenant = request.tenant
    if selectors.is_empty(tenant):
        context = {"first_run": selectors.first_run_steps(tenant)}
        return render(request, "dashboard/home.html", context)
    layout = selectors.layout_for(request.user, request.membership)
    context = _page_context(request, layout)
    if not selectors.guide_done(tenant):
        context["guide"] = selectors.first_run_steps(tenant)
    return render(request, "dashboard/home.html", context)


def _answer(request: TenantRequest, layout: list[dict], focus: str = "") -> HttpResponse:
    if request.headers.get("HX-Request"):
        context = _page_context(request, layout) | {"focus": focus}
        return render(request, "dashboard/_widgets.html", context)
    return redirect("tenants:dashboard", tenant_slug=request.tenant.slug)


def _bad(request: TenantRequest, message: str) -> HttpResponse:
    if request.headers.get("HX-Request"):
        return HttpResponseBadRequest(message)
    messages.error(request, message)
    return redirect("tenants:dashboard", tenant_slug=request.tenant.slug)


def _index(request: TenantRequest, layout: list, index: int) -> int:
    if not 0 <= index < len(layout):
        raise LayoutError("No such widget on your overview (reload the page).")
    return index


@require_POST
@tenant_view
def widget_add(request: TenantRequest) -> HttpResponse:
    layout = selectors.layout_for(request.user, request.membership)
    raw: dict = {"type": request.POST.get("type", "")}
    kind = KINDS.get(raw["type"])
    if kind is not None and kind.target is not None:
        raw["id"] = request.POST.get(kind.key + "_id") or request.POST.get("id", "")
    try:
        widget = clean_widget(request.tenant, raw)
        layout = selectors.layout_save(request.user, request.tenant, [*layout, widget])
    except LayoutError as exc:
        return _bad(request, str(exc))
    return _answer(request, layout, focus=f"widget-{len(layout) - 1}")


@require_POST
@tenant_view
def widget_remove(request: TenantRequest, index: int) -> HttpResponse:
    layout = selectors.layout_for(request.user, request.membership)
    try:
        del layout[_index(request, layout, index)]
        layout = selectors.layout_save(request.user, request.tenant, layout)
    except LayoutError as exc:
        return _bad(request, str(exc))
    focus = f"widget-{min(index, len(layout) - 1)}" if layout else "add-widget"
    return _answer(request, layout, focus=focus)


@require_POST
@tenant_view
def widget_move(request: TenantRequest, index: int) -> HttpResponse:
    layout = selectors.layout_for(request.user, request.membership)
    direction = request.POST.get("direction")
    try:
        _index(request, layout, index)
        if direction not in ("up", "down"):
            raise LayoutError("Move a widget up or down.")
        to = index - 1 if direction == "up" else index + 1
        if not 0 <= to < len(layout):
            raise LayoutError(f"This widget is already at the {'top' if to < 0 else 'bottom'}.")
        layout[index], layout[to] = layout[to], layout[index]
        layout = selectors.layout_save(request.user, request.tenant, layout)
    except LayoutError as exc:
        return _bad(request, str(exc))
    return _answer(request, layout, focus=f"move-{direction}-{to}")


@require_POST
@tenant_view
def layout_replace(request: TenantRequest) -> HttpResponse:
    """The whole layout as JSON (``{"widgets": [...]}``), for scripts and drag-and-drop."""
    try:
        body = json.loads(request.body or b"null")
        if not isinstance(body, dict) or "widgets" not in body:
            raise LayoutError('Send {"widgets": [...]}.')
        layout = selectors.layout_save(request.user, request.tenant, body["widgets"])
    except (ValueError, LayoutError) as exc:  # JSONDecodeError is a ValueError
        return HttpResponseBadRequest(str(exc), content_type="text/plain")
    return _answer(request, layout)


@require_POST
@tenant_view
def layout_reset(request: TenantRequest) -> HttpResponse:
    selectors.layout_reset(request.user, request.tenant)
    return _answer(request, selectors.layout_for(request.user, request.membership))


@require_POST
@tenant_view(perm=CREATE)
def demo_data(request: TenantRequest) -> HttpResponse:
    """Generate the labelled demo payments dataset into this workspace (guided first run)."""
    from pynomaly import demo

    dataset = Dataset.objects.for_tenant(request.tenant).filter(name=DEMO_NAME).first()
    if dataset is None or dataset.latest_version is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "payments.parquet"
            demo.payments().to_parquet(path, index=False)
            upload = dataset_create_from_path(
                tenant=request.tenant, user=request.user, path=path, name=DEMO_NAME, ingest_now=True
            )
        if upload.version is None:
            messages.error(request, f"The demo data could not be prepared: {upload.error}")
            return redirect("tenants:dashboard", tenant_slug=request.tenant.slug)
        messages.success(request, "Demo payments added: 'is_fraud' says which rows are fraud.")
    return redirect("tenants:dashboard", tenant_slug=request.tenant.slug)
