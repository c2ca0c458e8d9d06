"""What each widget shows, read for one workspace (every query scoped to it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.alerts.selectors import alerts_for, unread_notifications
from apps.datasets.models import Dataset
from apps.monitors import charts as monitor_charts
from apps.monitors.models import Monitor, MonitorExecution
from apps.monitors.selectors import executions, monitors_for
from apps.runs import report
from apps.runs.models import Run
from apps.streams.models import Stream, StreamScoreBucket
from apps.streams.selectors import stats, streams_for_list, threshold_of

from .models import DashboardLayout
from .widgets import KINDS, LayoutError, clean_widgets, default_layout

DAYS = 30
LIST = 8


def layout_for(user, membership) -> list[dict[str, Any]]:
    """The member's saved layout, dropping widgets whose object has since been deleted."""
    saved = DashboardLayout.objects.filter(user=user, tenant=membership.tenant).first()
    if saved is None:
        return default_layout(membership.role)
    kept = []
    for w in saved.widgets:
        kind = KINDS.get(str(w.get("type"))) if isinstance(w, dict) else None
        if kind is None:
            continue
        if kind.target is not None:
            target = kind.target.objects.for_tenant(membership.tenant)
            if not target.filter(pk=w.get("id")).exists():
                continue
        kept.append(w)
    return kept


def layout_save(user, tenant, widgets) -> list[dict[str, Any]]:
    clean = clean_widgets(tenant, widgets)
    DashboardLayout.objects.update_or_create(user=user, tenant=tenant, defaults={"widgets": clean})
    return clean


def layout_reset(user, tenant) -> None:
    """Back to the role's default: the saved layout goes."""
    DashboardLayout.objects.filter(user=user, tenant=tenant).delete()


def is_empty(tenant) -> bool:
    """Nothing to look at (no dataset, monitor or stream): the guided first run replaces the widgets."""
    return not (
        Dataset.objects.for_tenant(tenant).exists()
        or Monitor.objects.for_tenant(tenant).exists()
        or Stream.objects.for_tenant(tenant).exists()
    )


def guide_done(tenant) -> bool:
    """The guide stays above the widgets until a run has finished and another was started
    (with the first finished run, its last step, "read the results", is the next one)."""
    runs = Run.objects.for_tenant(tenant)
    return runs.filter(status=Run.Status.SUCCEEDED).exists() and runs.count() > 1


def first_run_steps(tenant) -> dict[str, Any]:
    dataset = Dataset.objects.for_tenant(tenant).order_by("-id").first()
    version = getattr(dataset, "latest_version", None) if dataset else None
    run = Run.objects.for_tenant(tenant).order_by("-id").first()
    return {"dataset": dataset, "version": version, "run": run}


def _by_day(rows, key: str) -> dict:
    return {r["day"]: int(r[key] or 0) for r in rows}


def anomalies_figure(tenant) -> dict:
    since = timezone.now() - timedelta(days=DAYS)
    runs = (
        Run.objects.for_tenant(tenant)
        .filter(status=Run.Status.SUCCEEDED, finished_at__gte=since)
        .values_list("finished_at", "summary")
    )
    run_days: dict = {}
    for finished, summary in runs:
        day = timezone.localdate(finished)
        run_days[day] = run_days.get(day, 0) + int((summary or {}).get("anomalies") or 0)
    monitor_days = _by_day(
        MonitorExecution.objects.for_tenant(tenant)
        .filter(status="succeeded", finished_at__gte=since)
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(n=Sum("anomalies")),
        "n",
    )
    stream_days = _by_day(
        StreamScoreBucket.objects.for_tenant(tenant)
        .filter(start__gte=since)
        .annotate(day=TruncDate("start"))
        .values("day")
        .annotate(n=Sum("flagged")),
        "n",
    )
    days = sorted(set(run_days) | set(monitor_days) | set(stream_days))
    data = [
        {
            "type": "bar",
            "name": name,
            "x": [d.isoformat() for d in days],
            "y": [series.get(d, 0) for d in days],
            "marker": {"color": color},
        }
        for name, series, color in (
            ("runs", run_days, "#4f46e5"),
            ("monitors", monitor_days, "#0891b2"),
            ("streams", stream_days, "#dc2626"),
        )
    ]
    return {
        "data": data,
        "layout": {
            "barmode": "stack",
            "height": 280,
            "margin": {"l": 48, "r": 12, "t": 12, "b": 40},
            "xaxis": {"type": "date"},
            "yaxis": {"title": {"text": "anomalies"}},
            "legend": {"orientation": "h", "y": -0.25},
        },
        "empty": not days,
    }


def widget_context(request, widget: dict[str, Any]) -> dict[str, Any]:
    """The data one widget shows (raises LayoutError for what can no longer be shown)."""
    tenant = request.tenant
    kind = widget["type"]
    if kind == "open_alerts":
        open_alerts = alerts_for(tenant).filter(state="open").order_by("-last_seen_at", "-id")
        return {
            "open_alerts": list(open_alerts[:LIST]),
            "open_count": open_alerts.count(),
            "unread": unread_notifications(request.user, tenant),
        }
    if kind == "recent_runs":
        runs = Run.objects.for_tenant(tenant).select_related(
            "dataset_version__dataset", "detector_version__config"
        )
        return {"runs": list(runs.order_by("-created_at")[:LIST])}
    if kind == "anomalies_over_time":
        return {"figure": anomalies_figure(tenant)}
    if kind == "health":
        monitors = []
        for m in monitors_for(tenant).order_by("name")[:LIST]:
            monitors.append((m, m.executions.order_by("-number").first()))
        streams = [(s, stats(s)) for s in streams_for_list(tenant)[:LIST]]
        return {"monitors": monitors, "streams": streams}
    if kind == "recent_datasets":
        return {"datasets": list(Dataset.objects.for_tenant(tenant).order_by("-id")[:LIST])}
    if kind == "counts":
        return {
            "counts": [
                ("Datasets", Dataset.objects.for_tenant(tenant).count(), "datasets:list"),
                ("Runs", Run.objects.for_tenant(tenant).count(), "runs:list"),
                ("Monitors", Monitor.objects.for_tenant(tenant).count(), "monitors:list"),
                ("Streams", Stream.objects.for_tenant(tenant).count(), "streams:list"),
                ("Open alerts", alerts_for(tenant).filter(state="open").count(), "alerts:list"),
            ]
        }
    if kind == "run_chart":
        run = Run.objects.for_tenant(tenant).get(pk=widget["id"])
        figure = None
        if run.status == Run.Status.SUCCEEDED and run.results:
            figure = report.histogram_figure(run, None)
            figure["layout"] = {**figure.get("layout", {}), "height": 260}
        return {"run": run, "figure": figure}
    if kind == "monitor_history":
        monitor = Monitor.objects.for_tenant(tenant).get(pk=widget["id"])
        history = executions(monitor, 30)
        figure = monitor_charts.history_figure(history[::-1]) if history else None
        return {"monitor": monitor, "figure": figure}
    if kind == "stream_live":
        # The chart itself comes over the stream's socket (static/js/stream_live.js): the stored
        # state on connect, then the processor's messages; the page renders the figures it has.
        stream = Stream.objects.for_tenant(tenant).select_related("model").get(pk=widget["id"])
        return {
            "stream": stream,
            "st": stats(stream),
            "threshold": threshold_of(stream),
            "ws_path": f"/ws/t/{tenant.slug}/streams/{stream.pk}/",
            "live": True,
        }
    raise LayoutError(f"Unknown widget {kind!r}.")


def choices(tenant) -> dict[str, list]:
    """The objects a per-object widget can show, for the add form."""
    return {
        "runs": list(
            Run.objects.for_tenant(tenant)
            .filter(status=Run.Status.SUCCEEDED)
            .order_by("-id")
            .values_list("pk", "dataset_version__dataset__name")[:30]
        ),
        "monitors": list(
            Monitor.objects.for_tenant(tenant).order_by("name").values_list("pk", "name")
        ),
        "streams": list(
            Stream.objects.for_tenant(tenant).order_by("name").values_list("pk", "name")
        ),
    }
