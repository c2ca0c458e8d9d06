"""Verdict pages: set a row's verdict (table buttons, row page), sync an offline queue, export,
retrain with feedback, learn the threshold from verdicts."""

from __future__ import annotations

import csv
import io
import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from apps.runs.anomalies import row_url as row_page_url
from apps.runs.selectors import get_run_for_member
from apps.tenants.access import require, tenant_actions, tenant_view
from apps.tenants.models import Membership, Tenant
from apps.tenants.permissions import CREATE, LABEL

from . import results, selectors
from .forms import VerdictForm
from .services import FeedbackError, retrain_with_feedback, threshold_from_verdicts, verdict_record


class TenantRequest(HttpRequest):
    """What the middleware and ``tenant_view`` set on the request (for the type checker)."""

    htmx: HtmxDetails
    tenant: Tenant
    membership: Membership


def _next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    ok = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    return target if target and ok else default


def _row_or_404(run, row: int) -> int:
    from django.http import Http404

    if not 0 <= row < run.dataset_version.rows:
        raise Http404("No such row.")
    return row


def _cell(
    request: HttpRequest, run, row: int, *, status: int = 200, error: str = ""
) -> HttpResponse:
    found = selectors.verdicts_by_row(run.dataset_version, [row])
    ctx = {
        "run": run,
        "row": {
            "row_id": row,
            "verdict": found.get(row),
            "verdict_url": results.verdict_url(run, row),
        },
        "feedback": {"can_label": LABEL in tenant_actions(request)},
        "error": error,
    }
    template = "feedback/_verdict_cell.html"
    if request.headers.get("HX-Target", "").startswith("verdict-panel"):
        template = "feedback/_verdict_panel.html"
    return render(request, template, ctx, status=status)


@tenant_view
@require_http_methods(["GET", "POST"])
def row(request: TenantRequest, run_id: int, row: int) -> HttpResponse:
    """POST: set the row's verdict. GET: the row's page, which is the run's (apps.runs: its
    score, explanation and values, with this app's verdict panel and history)."""
    run = get_run_for_member(request, run_id)
    row = _row_or_404(run, row)
    if request.method == "POST":
        return _post_verdict(request, run, row)
    return redirect(row_page_url(run, row))


def _post_verdict(request: TenantRequest, run, row: int) -> HttpResponse:
    require(request, LABEL)
    form = VerdictForm(request.POST)
    if not form.is_valid():
        error = "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
        if request.htmx:
            return _cell(request, run, row, status=422, error=error)
        messages.error(request, error)
        return redirect(_next(request, row_page_url(run, row)))
    data = form.cleaned_data
    try:
        verdict_record(
            tenant=request.tenant,
            user=request.user,
            version=run.dataset_version,
            row=row,
            verdict=data["verdict"],
            note=data["note"],
            run=run,
            uuid=data["uuid"],
            made_at=data["made_at"],
            request=request,
        )
    except FeedbackError as exc:
        if request.htmx:
            return _cell(request, run, row, status=422, error=str(exc))
        messages.error(request, str(exc))
        return redirect(_next(request, row_page_url(run, row)))
    if request.htmx:
        return _cell(request, run, row)
    messages.success(request, f"Row {row}: {data['verdict'] or 'verdict cleared'}.")
    return redirect(_next(request, row_page_url(run, row)))


@tenant_view(perm=LABEL)
@require_POST
def sync(request: TenantRequest, run_id: int) -> JsonResponse:
    """A device's queued verdicts, as JSON ``{"items": [{uuid, row, verdict, note, made_at}]}``."""
    from .services import verdicts_sync

    run = get_run_for_member(request, run_id)
    try:
        body = json.loads(request.body or b"{}")
        items = body["items"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"detail": 'Send JSON {"items": [...]}.'}, status=400)
    try:
        outcome = verdicts_sync(
            tenant=request.tenant, user=request.user, run=run, items=items, request=request
        )
    except FeedbackError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    counts = selectors.verdict_counts(run.dataset_version)
    return JsonResponse({"results": outcome, "counts": counts})


def _export_rows(run) -> list[dict]:
    return [
        {
            "row": v.row,
            "verdict": v.verdict,
            "label": v.label,
            "held_out": bool(h),
            "note": v.note,
            "run": v.run_id,
            "made_at": v.made_at.isoformat(),
            "by": v.created_by.email if v.created_by else "",
        }
        for v, h in _with_holdout(run.dataset_version)
    ]


def _with_holdout(version):
    from pynomaly.feedback import held_out

    verdicts = list(selectors.verdicts_for(version).select_related("created_by"))
    mask = held_out([v.row for v in verdicts], selectors.holdout_salt(version))
    return list(zip(verdicts, mask.tolist(), strict=True))


@tenant_view
@require_GET
def export_csv(request: TenantRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id)
    rows = _export_rows(run)
    out = io.StringIO()
    fields = ["row", "verdict", "label", "held_out", "note", "run", "made_at", "by"]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for r in rows:
        # A note that starts like a formula must not run in a spreadsheet.
        r["note"] = "'" + r["note"] if r["note"][:1] in ("=", "+", "-", "@") else r["note"]
        writer.writerow(r)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"verdicts-dataset-{run.dataset_version.dataset_id}-v{run.dataset_version.number}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@tenant_view
@require_GET
def export_json(request: TenantRequest, run_id: int) -> JsonResponse:
    run = get_run_for_member(request, run_id)
    return JsonResponse(
        {"dataset_version": run.dataset_version_id, "verdicts": _export_rows(run)},
        json_dumps_params={"indent": 1},
    )


@tenant_view(perm=CREATE)
@require_POST
def retrain(request: TenantRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id, write=True)
    try:
        child = retrain_with_feedback(run=run, user=request.user, request=request)
    except FeedbackError as exc:
        messages.error(request, str(exc))
        return redirect(run.url("results"))
    messages.success(
        request,
        f"Run #{child.pk} retrains with the verdicts; its results compare it with #{run.pk}.",
    )
    return HttpResponseClientRedirect(child.url()) if request.htmx else redirect(child.url())


@tenant_view(perm=CREATE)
@require_POST
def learn_threshold(request: TenantRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id, write=True)
    try:
        run, choice = threshold_from_verdicts(run=run, user=request.user, request=request)
    except FeedbackError as exc:
        messages.error(request, str(exc))
        return redirect(run.url("results"))
    messages.success(
        request,
        f"Threshold learned from {choice.rows} verdicts: {choice.threshold:.6g} "
        f"(F1 {choice.f1:.2f}, precision {choice.precision:.2f}, recall {choice.recall:.2f}) — "
        f"{run.summary['anomalies']:,} rows flagged.",
    )
    return redirect(run.url("results"))
