"""The charts of a run's results pages, served as JSON from their own URL and cached.

A results page holds only each chart's URL (``/t/<slug>/runs/<id>/figures/<name>.json``);
static/js/app.js fetches it with the chart's width (``?w=``), so the HTML stays small and
the figure is decimated for the screen (:mod:`pynomaly.screen`). A figure is a pure function
of the run's stored state, so its cache key is that state's version (:func:`version`: the
results and dataset files, the saved threshold, the explanations), the figure's name and
what the request asks (a previewed threshold, the width bucket, a series). Saving a
threshold or writing new results changes the version, so the page links new URLs and the
old entries age out of the caches; the verdicts chart adds the verdicts' own version.

The URL a page links carries ``v=<version>``: while it is the run's current version the
browser may keep the answer for a year (``immutable``); without it (or stale) it must
revalidate, and the ETag answers 304 without building anything.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from apps.common.cache import TwoLevelCache
from pynomaly.screen import point_budget, width_bucket

from . import charts, selectors
from .models import Run

SCHEMA = 1  # bump when a figure builder changes what it draws: every key changes with it


@dataclass(frozen=True)
class Ask:
    """What a request asks of a figure beyond the run."""

    threshold: float | None = None  # a previewed threshold; None = the saved one
    width: int = 1280  # the chart's width bucket (pynomaly.screen)
    series: str | None = None  # time-series runs: the series to draw


@dataclass(frozen=True)
class Spec:
    build: Callable[[Run, Ask], dict | None]
    threshold: bool = False  # depends on the (previewed) threshold
    width: bool = False  # decimated to the screen's width
    members_only: bool = False  # not for a user admitted by a share (verdicts stay inside)
    analyses: tuple[str, ...] = (Run.Analysis.TABLE, Run.Analysis.GRAPH)


def _shown(run: Run, ask: Ask) -> float | None:
    return ask.threshold if ask.threshold is not None else run.threshold


def _histogram(run: Run, ask: Ask) -> dict | None:
    from . import report

    return report.histogram_figure(run, _shown(run, ask))


def _timeseries(run: Run, ask: Ask) -> dict | None:
    from . import report

    budget = point_budget(ask.width, ceiling=charts.MAX_POINTS)
    return report.timeseries_figure(run, _shown(run, ask), max_points=budget)


def _heatmap(run: Run, ask: Ask) -> dict | None:
    from . import report

    return report.heatmap_figure(run)


def _importance(run: Run, ask: Ask) -> dict | None:
    from . import report

    return report.importance_figure(run)


def _projection(run: Run, ask: Ask) -> dict | None:
    from . import report

    return report.projection_figure(run, _shown(run, ask))


def _graph(run: Run, ask: Ask) -> dict | None:
    if run.analysis != Run.Analysis.GRAPH:
        return None
    from .graphs import results_context

    return results_context(run, _shown(run, ask))["graph_view"]


def _verdicts(run: Run, ask: Ask) -> dict | None:
    from apps.feedback.results import run_feedback  # the verdicts are the feedback app's

    return run_feedback(run)["figure"]


def _series(run: Run, ask: Ask) -> dict | None:
    from .charts_timeseries import MAX_SERIES_POINTS
    from .views_timeseries import series_figure

    return series_figure(
        run, ask.series, max_points=point_budget(ask.width, ceiling=MAX_SERIES_POINTS)
    )


def _swimlane(run: Run, ask: Ask) -> dict | None:
    from .views_timeseries import swimlane_figure

    return swimlane_figure(run)


_TS = (Run.Analysis.TIMESERIES,)
FIGURES: dict[str, Spec] = {
    "histogram": Spec(_histogram, threshold=True),
    "timeseries": Spec(_timeseries, threshold=True, width=True),
    "heatmap": Spec(_heatmap),
    "importance": Spec(_importance),
    "projection": Spec(_projection, threshold=True),
    "graph": Spec(_graph, threshold=True, analyses=(Run.Analysis.GRAPH,)),
    "verdicts": Spec(_verdicts, members_only=True),
    "series": Spec(_series, width=True, analyses=_TS),
    "swimlane": Spec(_swimlane, analyses=_TS),
}

_cache = TwoLevelCache(
    "figures",
    max_bytes=settings.FIGURE_CACHE_LOCAL_BYTES,
    timeout=settings.FIGURE_CACHE_SECONDS,
)
PREVIEW_SECONDS = 600  # a previewed threshold's figures: a slider drag makes many, briefly


def cache() -> TwoLevelCache:
    return _cache


# ---------------------------------------------------------------- keys
def version(run: Run) -> str:
    """Changes whenever anything a figure of ``run`` is built from does (ResultsUnavailable
    when the results file is gone)."""
    parts = [
        SCHEMA,
        run.pk,
        run.status,
        repr(run.threshold),
        selectors.file_key(run.results),
        run.explanations.name or "",
        (run.summary or {}).get("time_column") or "",
        run.label_column,
    ]
    data = run.dataset_version.parquet
    if data:
        try:
            parts.append(selectors.file_key(data))
        except selectors.ResultsUnavailable:
            parts.append(data.name)
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _extra_version(run: Run, name: str) -> str:
    if name != "verdicts":
        return ""
    from apps.feedback.selectors import verdicts_version

    return "-".join(str(p) for p in verdicts_version(run.dataset_version))


def cache_key(run: Run, name: str, ask: Ask) -> str:
    """The figure's identity: run, state version, name and what the request asks."""
    spec = FIGURES[name]
    parts = [f"run{run.pk}", version(run), name]
    if spec.threshold:
        shown = _shown(run, ask)
        parts.append("t" + (repr(float(shown)) if shown is not None else "saved"))
    if spec.width:
        parts.append(f"w{width_bucket(ask.width)}")
    if ask.series is not None and name == "series":
        parts.append("s" + hashlib.sha256(ask.series.encode()).hexdigest()[:12])
    extra = _extra_version(run, name)
    if extra:
        parts.append("v" + extra)
    return ":".join(parts)


def etag(key: str) -> str:
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


# ---------------------------------------------------------------- payloads
def _encode(figure: dict | None) -> bytes:
    if figure is None:
        return b""  # cached too: "this run has no such chart" is as expensive to find out
    return json.dumps(figure, separators=(",", ":"), allow_nan=False).encode()


def payload(run: Run, name: str, ask: Ask) -> bytes:
    """The figure's JSON through both cache levels; b"" when the run has no such chart."""
    spec = FIGURES[name]
    key = cache_key(run, name, ask)
    previewed = spec.threshold and ask.threshold is not None and ask.threshold != run.threshold
    return _cache.get_or_set(
        key,
        lambda: _encode(spec.build(run, ask)),
        timeout=PREVIEW_SECONDS if previewed else None,
    )


def available(run: Run, name: str) -> bool:
    """Whether the run has this chart at its saved threshold (built and cached if needed)."""
    return bool(payload(run, name, Ask()))


def url(run: Run, name: str, *, threshold: float | None = None, series: str | None = None) -> str:
    """The URL a page links for this figure (with the run's current version)."""
    path = reverse(
        "runs:figure", kwargs={"tenant_slug": run.tenant.slug, "run_id": run.pk, "name": name}
    )
    query: dict[str, str] = {"v": version(run)}
    if threshold is not None and FIGURES[name].threshold and math.isfinite(threshold):
        query["threshold"] = repr(float(threshold))
    if series is not None:
        query["series"] = series
    return f"{path}?{urlencode(query)}"


# ---------------------------------------------------------------- two runs
def compare_url(a: Run, b: Run) -> str:
    path = reverse("runs:compare_figure", kwargs={"tenant_slug": a.tenant.slug})
    return f"{path}?{urlencode({'a': a.pk, 'b': b.pk, 'v': compare_version(a, b)})}"


def compare_version(a: Run, b: Run) -> str:
    return hashlib.sha256(f"{version(a)}:{version(b)}".encode()).hexdigest()[:16]


def compare_key(a: Run, b: Run, width: int) -> str:
    return f"compare:run{a.pk}:run{b.pk}:{compare_version(a, b)}:w{width_bucket(width)}"


def compare_payload(a: Run, b: Run, width: int) -> bytes:
    """The scatter of two comparable runs (check ``report.comparison_error`` first)."""
    from . import report

    budget = point_budget(width, ceiling=charts.MAX_POINTS)
    return _cache.get_or_set(
        compare_key(a, b, width), lambda: _encode(report.compare_figure(a, b, max_points=budget))
    )
