"""The verdicts on a run's results page: the table's verdict column and filter, metrics, comparison.

The runs' results views call :func:`row_filter`, :func:`results_context` and, on a row's page,
:func:`row_context` (their one upward import, declared in the import-linter contract): the
pages are the run's, the verdicts are ours.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from django.http import HttpRequest
from django.urls import reverse

from apps.runs import charts
from apps.runs import selectors as run_selectors
from apps.runs.models import Run
from apps.runs.report import metric_rows
from apps.tenants.access import tenant_actions
from apps.tenants.permissions import CREATE, LABEL
from pynomaly import feedback as F

from . import selectors
from .models import Kind

GREEN = "#059669"  # the "normal" verdict's colour on the buttons
FILTERS = [("", "All flagged"), *Kind.choices, ("none", "No verdict yet")]


def _shows_verdicts(request: HttpRequest) -> bool:
    # A user admitted by a share is not in the workspace: verdicts stay inside it.
    return (
        getattr(request, "run_share", None) is None and getattr(request, "tenant", None) is not None
    )


def chosen_filter(request: HttpRequest) -> str:
    value = request.GET.get("verdict", "")
    return value if _shows_verdicts(request) and value in dict(FILTERS) else ""


def row_filter(request: HttpRequest, run: Run) -> Callable[[np.ndarray], np.ndarray] | None:
    """For the flagged-rows table: which row ids to keep under the page's verdict filter."""
    value = chosen_filter(request)
    if not value:
        return None
    if value == "none":
        marked = np.array(selectors.rows_with(run.dataset_version, "any"), dtype=np.int64)
        return lambda ids: ~np.isin(ids, marked)
    rows = np.array(selectors.rows_with(run.dataset_version, value), dtype=np.int64)
    return lambda ids: np.isin(ids, rows)


def urls(run: Run) -> dict[str, str]:
    kw = {"tenant_slug": run.tenant.slug, "run_id": run.pk}
    return {
        n: reverse(f"feedback:{n}", kwargs=kw)
        for n in ("sync", "retrain", "learn_threshold", "export_csv", "export_json")
    }


def verdict_url(run: Run, row: int) -> str:
    """Where a row's verdict is POSTed (a GET there goes to the run's row page)."""
    return reverse(
        "feedback:row", kwargs={"tenant_slug": run.tenant.slug, "run_id": run.pk, "row": row}
    )


def row_context(request: HttpRequest, run: Run, row: int) -> dict:
    """What a row's page (apps.runs) shows of the verdicts: the panel, the history; {} for a
    user admitted by a share (verdicts stay inside the workspace)."""
    if not _shows_verdicts(request):
        return {}
    version = run.dataset_version
    return {
        "verdict_row": {
            "row_id": row,
            "verdict": selectors.verdicts_by_row(version, [row]).get(row),
            "verdict_url": verdict_url(run, row),
        },
        "feedback": {"can_label": LABEL in tenant_actions(request), "urls": urls(run)},
        "history": selectors.row_history(version, row),
    }


def annotate(run: Run, rows: list[dict]) -> None:
    """Give each table row its current verdict and the URL that changes it."""
    found = selectors.verdicts_by_row(run.dataset_version, [r["row_id"] for r in rows])
    for r in rows:
        r["verdict"] = found.get(r["row_id"])
        r["verdict_url"] = verdict_url(run, r["row_id"])


def results_context(request: HttpRequest, run: Run, rows: list[dict], *, full: bool) -> dict:
    """What the results page adds for verdicts; empty for a user admitted by a share."""
    if not _shows_verdicts(request):
        return {"feedback": None}
    annotate(run, rows)
    actions = tenant_actions(request)
    ctx: dict = {
        "can_label": LABEL in actions,
        "can_retrain": CREATE in actions,
        "filter": chosen_filter(request),
        "filters": FILTERS,
        "urls": urls(run),
        "counts": selectors.verdict_counts(run.dataset_version),
    }
    if full:
        ctx.update(run_feedback(run))
    return {"feedback": ctx}


def run_feedback(run: Run) -> dict:
    """Metrics against the verdicts, the held-out comparison with the parent, the verdicts chart."""
    labels = selectors.verdict_labels(run.dataset_version)
    ids, sc = run_selectors.row_ids(run), run_selectors.scores(run)
    metrics = F.verdict_metrics(labels, ids, sc, run.threshold)
    out: dict = {
        "metrics": metrics,
        "metric_rows": metric_rows(metrics) if metrics["rows"] else [],
        "figure": verdicts_figure(labels, ids, sc, run.threshold) if labels else None,
        "comparison": held_out_comparison(run),
    }
    return out


def held_out_comparison(run: Run) -> dict | None:
    """A retrain vs the run it came from, on the held-out verdicts (None for other runs)."""
    parent = run.parent
    if not run.use_verdicts or parent is None:
        return None
    if parent.status != Run.Status.SUCCEEDED or not parent.results:
        return {"parent_run": parent, "error": f"Run #{parent.pk} has no results to compare with."}
    if parent.dataset_version_id != run.dataset_version_id:
        return {"parent_run": parent, "error": "The parent run is on another dataset version."}
    held = selectors.verdict_labels(run.dataset_version, part="held_out")

    def compute() -> dict:
        return F.compare_on_held_out(
            held,
            (run_selectors.row_ids(run), run_selectors.scores(run), run.threshold),
            (run_selectors.row_ids(parent), run_selectors.scores(parent), parent.threshold),
            names=(f"run #{parent.pk}", f"run #{run.pk}"),
        )

    try:
        # The bootstrap takes a moment: once per pair of results files and state of the verdicts.
        key = (
            "feedback-held-out",
            *run_selectors.file_key(run.results),
            *run_selectors.file_key(parent.results),
            selectors.verdicts_version(run.dataset_version),
        )
        result = run_selectors.cached(key, compute)
    except run_selectors.ResultsUnavailable:
        return {"parent_run": parent, "error": f"The results of run #{parent.pk} cannot be read."}
    return {**result, "parent_run": parent, "parent_url": parent.url("results"), "error": ""}


def verdicts_figure(labels: dict[int, int], ids, scores, threshold: float | None) -> dict:
    """The scores of the rows analysts marked, by verdict, against the threshold."""
    rows = np.array(sorted(labels), dtype=np.int64)
    y = np.array([labels[int(r)] for r in rows])
    order = np.argsort(ids, kind="stable")
    at = np.minimum(np.searchsorted(ids[order], rows), max(len(ids) - 1, 0))
    ok = ids[order][at] == rows
    s = np.asarray(scores, dtype="float64")[order[at[ok]]]
    rows, y = rows[ok], y[ok]
    data = []
    for value, name, color in ((1, "Anomaly", charts.RED), (0, "Normal", GREEN)):
        pick = y == value
        data.append(
            {
                "type": "scattergl" if len(rows) > 2000 else "scatter",
                "mode": "markers",
                "name": f"{name} ({int(pick.sum())})",
                "x": rows[pick].tolist(),
                "y": charts.compact(s[pick]),
                "marker": {"color": color, "size": 8},
            }
        )
    layout = charts._layout(
        "Scores of the rows analysts marked",
        xaxis={"title": {"text": "row"}},
        yaxis={"title": {"text": "score"}},
    )
    if threshold is not None:
        layout["shapes"] = [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": threshold,
                "y1": threshold,
                "line": {"color": charts.AMBER, "dash": "dash"},
            }
        ]
    return {"data": data, "layout": layout}
