"""The results page of a time-series run (``run.analysis == timeseries``).

The series chart with its intervals shaded, a series picker (an htmx swap of
``#ts-series-panel``, a plain GET without JavaScript), the swimlane of every series, the
intervals and the flagged points with their timestamp first. Intervals are computed by the
engine from the stored points at the run's saved threshold, so they follow a changed
threshold.
"""

from __future__ import annotations

import math

import numpy as np
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pynomaly import results as R
from pynomaly import timeseries as T

from . import charts_timeseries as charts
from . import selectors
from .models import Run
from .selectors import ResultsUnavailable

POINTS_PER_PAGE = 50
MAX_INTERVAL_ROWS = 200


def _points(run: Run) -> dict:
    """The stored points: series, times, scores, severity, values (cached per file)."""
    names = selectors.column_names(run.results)
    missing = [c for c in (T.SERIES, T.TIME, R.SCORE) if c not in names]
    if missing:
        raise ResultsUnavailable(f"not a time-series results table: no column {missing[0]}")
    value_names = [n[len(T.VALUE) :] for n in names if n.startswith(T.VALUE)]
    read = selectors.read_column
    return {
        "series": read(run.results, T.SERIES).astype(str),
        "times": read(run.results, T.TIME),
        "scores": selectors.scores(run),
        "severity": selectors.severity(run),
        "values": np.column_stack([read(run.results, T.VALUE + n) for n in value_names]),
        "value_names": value_names,
    }


def _lanes(ids: list[str], found: list[dict]) -> list[str]:
    """Series ordered by their worst interval (most severe first), then by name."""
    worst: dict[str, float] = {}
    for item in found:
        worst[item["series"]] = max(worst.get(item["series"], 0.0), item["severity"])
    return sorted(ids, key=lambda s: (-worst.get(s, -1.0), s))


def _label(sid: str) -> str:
    return sid or "the series"


def _analysis(run: Run) -> dict:
    """Points, flags, intervals and the lanes' order: what the page and its charts share."""
    points = _points(run)
    flagged = selectors.flags(run)
    series, times = points["series"], points["times"]
    found = T.intervals(series, times, points["scores"], points["severity"], flagged)
    ids = sorted(set(series.tolist()))
    return {**points, "flagged": flagged, "found": found, "ids": ids, "lanes": _lanes(ids, found)}


def _chosen(a: dict, asked: str | None) -> str:
    return asked if asked is not None and asked in set(a["ids"]) else a["lanes"][0]


def series_figure(run: Run, asked: str | None, *, max_points: int = charts.MAX_SERIES_POINTS):
    """The chosen series (default: the one with the worst interval) with its intervals."""
    a = _analysis(run)
    chosen = _chosen(a, asked)
    series, times = a["series"], a["times"]
    mask = np.flatnonzero(series == chosen)
    mask = mask[np.argsort(times[mask], kind="stable")]
    mine = [i for i in a["found"] if i["series"] == chosen]
    return charts.series(
        times[mask],
        a["values"][mask],
        a["value_names"],
        a["flagged"][mask],
        a["scores"][mask],
        mine,
        title=f"{_label(chosen)} — {len(mine)} anomalous interval{'s' * (len(mine) != 1)}",
        max_points=max_points,
    )


def swimlane_figure(run: Run) -> dict:
    a = _analysis(run)
    times = a["times"]
    span = tuple(T._time_value(v) for v in (times.min(), times.max()))
    return charts.swimlane(a["lanes"], a["found"], span=span)


def context(request: HttpRequest, run: Run) -> dict:
    """The page; its two charts are fetched from their figure URLs (apps.runs.figures)."""
    from . import figures

    a = _analysis(run)
    points, flagged, found, ids, lanes = a, a["flagged"], a["found"], a["ids"], a["lanes"]
    series, times = a["series"], a["times"]
    chosen = _chosen(a, request.GET.get("series"))
    mine = [i for i in found if i["series"] == chosen]
    options = (run.summary or {}).get("timeseries", {}).get("options") or run.analysis_options
    hits = np.flatnonzero(flagged)
    hits = hits[np.lexsort((series[hits], times[hits]))]
    page = Paginator(hits, POINTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {
            "time": T._time_value(times[i]),
            "series": series[i],
            "score": float(points["scores"][i]),
            "severity": float(points["severity"][i]),
            "values": [float(points["values"][i, j]) for j in range(len(points["value_names"]))],
            "row_id": int(i),
        }
        for i in page.object_list
    ]
    ranked = sorted(found, key=lambda i: -i["severity"])[:MAX_INTERVAL_ROWS]
    return {
        "ts": {
            "options": options,
            "series_ids": lanes,
            "chosen": chosen,
            "chosen_label": _label(chosen),
            "many": len(ids) > 1,
            "figure_url": figures.url(run, "series", series=chosen),
            "swimlane_url": figures.url(run, "swimlane"),
            "intervals": ranked,
            "intervals_total": len(found),
            "chosen_intervals": mine,
            "points": rows,
            "page": page,
            "value_names": points["value_names"],
            "flagged_total": len(hits),
            "series_count": len(ids),
        },
    }


def results_page(request: HttpRequest, run: Run) -> HttpResponse:
    """The full page, or (htmx from the picker) the ``ts-series-panel`` partial."""
    ctx: dict = {"run": run, "run_page_url": run.url(), "urls": {}}
    if run.status != Run.Status.SUCCEEDED or not run.results:
        return render(request, "runs/results_timeseries.html", {**ctx, "finished": False})
    try:
        ctx.update(context(request, run), finished=True)
    except ResultsUnavailable:
        return render(
            request,
            "runs/results_timeseries.html",
            {**ctx, "finished": False, "unreadable": True},
        )
    ctx["urls"] = {n: run.url(n) for n in ("results", "download_csv", "download_parquet")}
    ctx["saved"] = {"rows": len(selectors.scores(run)), "anomalies": ctx["ts"]["flagged_total"]}
    ctx["saved_pct"] = 100 * ctx["saved"]["anomalies"] / max(ctx["saved"]["rows"], 1)
    ctx["threshold_finite"] = run.threshold is not None and math.isfinite(run.threshold)
    template = "runs/results_timeseries.html"
    if request.headers.get("HX-Target") == "ts-series-panel":
        template += "#ts-series-panel"
    return render(request, template, ctx)
