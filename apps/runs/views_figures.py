"""A results chart's data (``figures/<name>.json``), fetched by static/js/app.js: cacheable,
conditional (ETag → 304) and decimated to the width the browser asks for."""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_GET

from apps.tenants.access import tenant_view

from . import figures, report
from .models import Run
from .selectors import ResultsUnavailable, get_run_for_member
from .sharing import tenant_or_share_view
from .views_results import _float, _int

IMMUTABLE = "private, max-age=31536000, immutable"  # the URL names the run's current version
REVALIDATE = "private, max-age=0, must-revalidate"  # no version, or an old one: ask each time


def _ask(request: HttpRequest) -> figures.Ask:
    series = request.GET.get("series")
    return figures.Ask(
        threshold=_float(request.GET.get("threshold")),
        width=figures.width_bucket(request.GET.get("w")),
        series=series[:500] if series is not None else None,
    )


@tenant_or_share_view  # members, or a user this run is shared with (read-only)
@require_GET
def figure(request: HttpRequest, run_id: int, name: str) -> HttpResponse:
    run = get_run_for_member(request, run_id)
    spec = figures.FIGURES.get(name)
    if spec is None or run.analysis not in spec.analyses:
        raise Http404("This run has no such chart.")
    if spec.members_only and getattr(request, "run_share", None) is not None:
        raise Http404("This run has no such chart.")
    if run.status != Run.Status.SUCCEEDED or not run.results:
        raise Http404("This run has no results yet.")
    ask = _ask(request)
    try:
        current = figures.version(run)
        key = figures.cache_key(run, name, ask)
    except ResultsUnavailable:
        raise Http404("This run's results cannot be read.") from None

    def build() -> bytes:
        try:
            body = figures.payload(run, name, ask)
        except ResultsUnavailable:
            raise Http404("This run's results cannot be read.") from None
        if not body:
            raise Http404("This run has no such chart.")
        return body

    return _answer(request, figures.etag(key), current, build)


def _answer(
    request: HttpRequest, tag: str, current: str, build: Callable[[], bytes]
) -> HttpResponse:
    """304 when the client holds ``tag``, else the built JSON; cacheable for a year when the
    URL names the ``current`` version (``?v=``)."""
    cache_control = IMMUTABLE if request.GET.get("v") == current else REVALIDATE
    response = get_conditional_response(request, etag=tag)
    if response is None:
        response = HttpResponse(build(), content_type="application/json")
    response["ETag"] = tag
    response["Cache-Control"] = cache_control
    return response


@tenant_view
@require_GET
def compare_figure(request: HttpRequest) -> HttpResponse:
    """The comparison page's scatter (``compare/figure.json?a=&b=``)."""
    a_id, b_id = _int(request.GET.get("a"), 0), _int(request.GET.get("b"), 0)
    if not (a_id and b_id):
        return JsonResponse({"detail": "Give two run ids: ?a=<id>&b=<id>."}, status=400)
    a, b = get_run_for_member(request, a_id), get_run_for_member(request, b_id)
    error = report.comparison_error(a, b)
    if error:
        return JsonResponse({"detail": error}, status=400)
    width = figures.width_bucket(request.GET.get("w"))
    try:
        tag = figures.etag(figures.compare_key(a, b, width))
        return _answer(
            request, tag, figures.compare_version(a, b),
            lambda: figures.compare_payload(a, b, width),
        )  # fmt: skip
    except ResultsUnavailable:
        raise Http404("These runs' results cannot be read.") from None
