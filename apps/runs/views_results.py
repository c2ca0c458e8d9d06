"""Results pages of a run: summary, charts, threshold preview/save, table, downloads, comparison."""

from __future__ import annotations

import math

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.tenants.access import tenant_view
from apps.tenants.permissions import CREATE
from pynomaly.results import nearest_stop
from pynomaly.segments import describe as describe_segment

from . import explanations, exports, figures, report, selectors
from .anomalies import TablePage, anomalies_table, row_detail, row_url
from .models import Run
from .selectors import ResultsUnavailable, get_run_for_member, get_succeeded_run
from .services import run_threshold_set
from .sharing import tenant_or_share_view


# ---------------------------------------------------------------- helpers
def _float(value: str | None) -> float | None:
    try:
        f = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return f if f is not None and math.isfinite(f) else None


def _int(value: str | None, default: int = 1) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def _table_links(run: Run, table: TablePage, preview: float | None, verdict: str = "") -> dict:
    """href (full page, works without JS) and hx-get (partial) for every sort header and page link."""
    state = {"threshold": preview, "sort": table.sort, "dir": table.direction, "verdict": verdict}

    def link(**change):
        q = {**state, **change}
        return {
            "href": run.url("results", **q) + "#anomalies-table",
            "hx": run.url("results_table", **q),
            "push": run.url("results", **q),
        }

    def header(key: str, label: str) -> dict:
        active = key == table.sort
        direction = (
            {"asc": "desc", "desc": "asc"}[table.direction]
            if active
            else ("asc" if key == "row_id" else "desc")
        )
        return {
            "key": key,
            "label": label,
            "active": active,
            "dir": table.direction if active else "",
            **link(sort=key, dir=direction, page=1),
        }

    fixed = [header("row_id", "Row"), header("score", "Score"), header("severity", "Severity")]
    return {
        "fixed": fixed,
        "columns": [header(c, c) for c in table.columns],
        "prev": link(page=table.page - 1) if table.page > 1 else None,
        "next": link(page=table.page + 1) if table.page < table.pages else None,
    }


def _context(request: HttpRequest, run: Run, *, charts: bool = True) -> dict:
    # The verdicts' column, filter and metrics belong to apps.feedback (the one upward import).
    from apps.feedback.results import chosen_filter, results_context, row_filter

    names = (
        "results",
        "results_table",
        "threshold_preview",
        "threshold_save",
        "download_csv",
        "download_parquet",
    )
    ctx: dict = {
        "run": run,
        "run_page_url": run.url(),
        "urls": {n: run.url(n) for n in names},
    }
    if run.status != Run.Status.SUCCEEDED or not run.results:
        return {**ctx, "finished": False}
    preview = _float(request.GET.get("threshold") or request.GET.get("threshold_range"))
    shown = preview if preview is not None else run.threshold
    table = anomalies_table(
        run,
        shown,
        sort=request.GET.get("sort", "score"),
        direction=request.GET.get("dir", "desc"),
        page=_int(request.GET.get("page")),
        keep=row_filter(request, run),
    )
    ctx.update(
        finished=True,
        preview=preview,
        shown_threshold=shown,
        table=table,
        links=_table_links(run, table, preview, chosen_filter(request)),
        saved=selectors.counts(run),
        at=selectors.counts(run, shown),
        range=selectors.score_range(run),
        contributions=bool(selectors.contribution_columns(run)),
        explanation=explanations.info(run),
    )
    ctx.update(at_pct=100 * ctx["at"]["anomaly_rate"], saved_pct=100 * ctx["saved"]["anomaly_rate"])
    stops = selectors.slider_stops(run)
    ctx.update(
        slider_stops=stops,
        slider_position=nearest_stop(stops, ctx["at"]["anomalies"]),
        # the preview answers with every number that depends on the threshold
        metrics=report.metric_rows(report.metrics_at(run, preview)),
    )
    # The charts are fetched from their own URLs (apps.runs.figures), drawn at the shown threshold.
    urls = {n: figures.url(run, n, threshold=preview) for n in ("histogram", "timeseries")}
    if charts:
        for name in ("heatmap", "importance", "projection"):
            # whether the run has the chart at all decides what the page says instead
            urls[name] = (
                figures.url(run, name, threshold=preview) if figures.available(run, name) else ""
            )
        ctx.update(
            quantiles=selectors.quantiles(run),
            segments=[
                {
                    **h,
                    "text": describe_segment(h),
                    "pct_anomalies": 100 * h["share_anomalies"],
                    "pct_rows": 100 * h["share_rows"],
                }
                for h in explanations.segments(run, shown)
            ],
        )
    if charts and run.analysis == Run.Analysis.GRAPH:
        urls["graph"] = figures.url(run, "graph", threshold=preview)
        ctx["graph_info"] = (run.summary or {}).get("graph") or {}
    ctx["figure_urls"] = urls
    ctx.update(results_context(request, run, table.rows, full=charts))
    feedback = ctx.get("feedback")
    if feedback and feedback.pop("figure", None) is not None:
        feedback["figure_url"] = figures.url(run, "verdicts")
    return ctx


def _render(request: HttpRequest, run: Run, partial: str | None = None, **extra) -> HttpResponse:
    try:
        ctx = _context(request, run, charts=partial is None)
    except ResultsUnavailable:
        ctx = {
            "run": run,
            "run_page_url": run.url(),
            "finished": False,
            "unreadable": True,
            "urls": {},
        }
        partial = None
    template = "runs/results.html" if partial is None else partial
    return render(request, template, {**ctx, **extra})


# ---------------------------------------------------------------- views
@tenant_or_share_view  # members, or a user this run is shared with (read-only)
@require_GET
def results_page(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id)
    if run.analysis == Run.Analysis.TIMESERIES:
        from .views_timeseries import results_page as timeseries_page

        return timeseries_page(request, run)
    return _render(request, run)


@tenant_or_share_view  # members, or a user this run is shared with (read-only)
@require_GET
def results_table(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id)
    return _render(request, run, "runs/results.html#anomalies-table" if request.htmx else None)


@tenant_or_share_view  # members, or a user this run is shared with (read-only)
@require_GET
def threshold_preview(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id)
    if not request.htmx:
        return _render(request, run)
    return _render(request, run, "runs/results_preview.html", oob=True)


@tenant_view(perm=CREATE)
@require_POST
def threshold_save(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id, write=True)
    threshold = _float(request.POST.get("threshold"))
    if run.status != Run.Status.SUCCEEDED or not run.results or threshold is None:
        messages.error(request, "Enter a number for the threshold of a finished run.")
        return redirect(run.url("results"))
    run = run_threshold_set(run=run, threshold=threshold, actor=request.user, request=request)
    messages.success(
        request, f"Threshold saved: {threshold:.6g} — {run.summary['anomalies']:,} rows flagged."
    )
    return redirect(run.url("results"))


@tenant_or_share_view  # members, or a user this run is shared with (read-only)
@require_GET
def download_csv(request: HttpRequest, run_id: int) -> StreamingHttpResponse:
    run = get_succeeded_run(request, run_id)
    original = _with_data(request)
    response = StreamingHttpResponse(
        exports.csv_chunks(run, original=original, only_anomalies=_only_anomalies(request)),
        content_type="text/csv; charset=utf-8",
    )
    name = exports.filename(run, "csv", original=original)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _with_data(request: HttpRequest) -> bool:
    """``?data=1``: the download carries every original column of the row too."""
    return request.GET.get("data", "") in ("1", "true", "yes", "on")


def _only_anomalies(request: HttpRequest) -> bool:
    """``?only_anomalies=1``: the flagged rows alone."""
    return request.GET.get("only_anomalies", "") in ("1", "true", "yes", "on")


@tenant_or_share_view  # members, or a user this run is shared with (read-only)
@require_GET
def download_parquet(request: HttpRequest, run_id: int) -> FileResponse:
    run = get_succeeded_run(request, run_id)
    original = _with_data(request)
    return FileResponse(
        exports.parquet_download(run, original=original, only_anomalies=_only_anomalies(request)),
        as_attachment=True,
        filename=exports.filename(run, "parquet", original=original),
        content_type="application/vnd.apache.parquet",
    )


@tenant_or_share_view  # members, or a user this run is shared with (read-only)
@require_GET
def row_page(request: HttpRequest, run_id: int, row_id: int) -> HttpResponse:
    run = get_succeeded_run(request, run_id)
    try:
        detail = row_detail(run, row_id)
    except ResultsUnavailable:
        raise Http404("This run's results cannot be read.") from None
    if detail is None:
        raise Http404("This run has no such row.")
    from apps.feedback.results import row_context

    rows = run.dataset_version.rows
    ctx = {
        "run": run,
        "row": detail,
        "results_url": run.url("results"),
        "prev_url": row_url(run, row_id - 1) if 0 < row_id <= rows else None,
        "next_url": row_url(run, row_id + 1) if row_id + 1 < rows else None,
        **row_context(request, run, row_id),
    }
    return render(request, "runs/row.html", ctx)


@tenant_view
@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    a_id, b_id = _int(request.GET.get("a"), 0), _int(request.GET.get("b"), 0)
    choices = (
        Run.objects.for_tenant(request.tenant)
        .filter(status=Run.Status.SUCCEEDED)
        .select_related("dataset_version__dataset", "detector_version__config")[:200]
    )
    ctx = {"choices": choices, "a_id": a_id, "b_id": b_id}
    if not (a_id and b_id):
        return render(request, "runs/compare.html", ctx)
    a, b = get_run_for_member(request, a_id), get_run_for_member(request, b_id)
    comparison = report.compare_runs(a, b)
    ctx.update(a=a, b=b, comparison=comparison)
    return render(request, "runs/compare.html", ctx, status=400 if comparison.error else 200)
