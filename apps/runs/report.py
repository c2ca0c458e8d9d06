"""What the results and comparison pages show: figures, metric rows, the agreement of two runs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pynomaly import results as R
from pynomaly.evaluate import METRIC_NAMES, label_metrics

from . import charts, comparison, explanations, selectors
from .models import Run
from .selectors import feature_columns, flags, row_ids, scores, top_positions

TOP_N = 30  # rows in the heatmap
MAX_HEATMAP_FEATURES = 40
PROJECTION_SAMPLE = 5000
PROJECTION_TOP = 1000  # highest-scoring rows always in the projection


# ---------------------------------------------------------------- figures
def histogram_figure(run: Run, threshold: float | None) -> dict:
    return charts.histogram(scores(run), threshold if threshold is not None else run.threshold)


def timeseries_figure(
    run: Run, threshold: float | None, *, max_points: int = charts.MAX_POINTS
) -> dict:
    x = selectors.time_values(run)
    title = (run.summary or {}).get("time_column") if x is not None else "row"
    return charts.timeseries(
        scores(run), flags(run, threshold), x, x_title=title or "row", max_points=max_points
    )


def heatmap_figure(run: Run) -> dict | None:
    pos = top_positions(run, TOP_N)
    if len(pos) == 0:
        return None
    ids = row_ids(run)[pos]
    ex = explanations.explanation(run)
    explained = np.isin(ids, ex.row_ids) if ex is not None else np.zeros(len(ids), dtype=bool)
    if ex is not None and explained.any():
        # The model's attributions of the top rows it explained (they are the top flagged rows).
        ids = ids[explained]
        index = {int(r): i for i, r in enumerate(ex.row_ids)}
        matrix = ex.values[[index[int(r)] for r in ids]]
        names = list(ex.feature_names)
        kind = "attribution"
    elif selectors.contribution_columns(run):
        names, matrix = selectors.contributions_at(run, pos)
        kind = "contribution"
    else:
        names = feature_columns(run)
        if not names:
            return None
        matrix = selectors.zscores_at(run, ids, names)
        kind = "z-score"
    if len(names) > MAX_HEATMAP_FEATURES:
        keep = R.most_deviating(matrix, MAX_HEATMAP_FEATURES)
        matrix, names = matrix[:, keep], [names[i] for i in keep]
        kind += f", {MAX_HEATMAP_FEATURES} most deviating features"
    return charts.heatmap(matrix, ids.tolist(), names, kind=kind)


def importance_figure(run: Run) -> dict | None:
    """Global feature importance of the run's explained rows, or None when it has none."""
    items = explanations.importance(run)
    if not items:
        return None
    info = explanations.info(run)
    return charts.feature_importance(
        items, method=info.get("method_label") or "attributions", rows=int(info.get("rows") or 0)
    )


def waterfall_figure(run: Run, row: dict) -> dict:
    info = explanations.info(run)
    return charts.waterfall(
        row["attributions"],
        base_value=row["base_value"],
        output=row["output"],
        method=info.get("method_label") or "attributions",
        units=info.get("units") or "",
    )


def _projection_coords(run: Run) -> dict | None:
    names = feature_columns(run)
    if len(names) < 2:
        return None

    def compute():
        n = len(scores(run))
        pos = charts.sample_rows(
            n, PROJECTION_SAMPLE, seed=run.pk or 0, must=top_positions(run, PROJECTION_TOP)
        )
        coords, variance = charts.pca_2d(selectors.zscores_at(run, row_ids(run)[pos], names))
        return {"pos": pos, "coords": coords, "variance": variance}

    key = (
        "projection",
        *selectors.file_key(run.results),
        *selectors.file_key(selectors.dataset_file(run)),
    )
    return selectors.cached(key, compute)


def projection_figure(run: Run, threshold: float | None) -> dict | None:
    p = _projection_coords(run)
    if p is None:
        return None
    pos = p["pos"]
    return charts.projection(
        p["coords"],
        scores(run)[pos],
        flags(run, threshold)[pos],
        row_ids(run)[pos],
        total_rows=len(scores(run)),
        variance=p["variance"],
    )


# ---------------------------------------------------------------- metrics
def _shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) >= 1000
    ):
        return f"{int(value):,}"  # counts read as counts, not 4.8e+03
    return f"{value:.3g}"


def metrics_at(run: Run, threshold: float | None) -> dict:
    """The run's metrics with the threshold-dependent ones (F1, precision, recall, the
    confusion matrix) recomputed at a previewed ``threshold``, as saving it would."""
    metrics = dict(run.metrics or {})
    if threshold is None or threshold == run.threshold or not metrics:
        return metrics
    truth = selectors.truth(run)
    if truth is None:
        return metrics
    return {**metrics, **label_metrics(truth, flags(run, threshold))}


def metric_rows(*metrics: dict) -> list[dict]:
    """[{name, values:[…], shown:[…]}] for the metrics any of the given dicts holds."""
    return [
        {
            "key": key,
            "name": label,
            "values": [m.get(key) for m in metrics],
            "shown": [_shown(m.get(key)) for m in metrics],
        }
        for key, label in METRIC_NAMES
        if any(m.get(key) is not None for m in metrics)
    ]


# ---------------------------------------------------------------- comparison
@dataclass
class Comparison:
    error: str = ""
    stats: dict = field(default_factory=dict)
    metrics: list[dict] = field(default_factory=list)
    figure_url: str = ""  # the scatter, fetched from its own URL (apps.runs.figures)
    # pynomaly.stats.compare_runs: intervals, the paired tests and the sentence
    statistics: dict = field(default_factory=dict)


def comparison_error(a: Run, b: Run) -> str:
    """Why two runs cannot be compared, or ''."""
    for name, run in (("A", a), ("B", b)):
        if run.status != Run.Status.SUCCEEDED or not run.results:
            return f"Run {name} (#{run.pk}) has not finished successfully, so it has no results."
    if a.dataset_version_id != b.dataset_version_id:
        return (
            f"Runs #{a.pk} and #{b.pk} scored different data ({a.dataset_version} and "
            f"{b.dataset_version}); only runs on the same dataset version can be compared."
        )
    return ""


def compare_figure(a: Run, b: Run, *, max_points: int = charts.MAX_POINTS) -> dict:
    """Score A against score B of two comparable runs, decimated to ``max_points``."""
    agreement = R.agreement(row_ids(a), scores(a), flags(a), row_ids(b), scores(b), flags(b))
    return charts.compare_scatter(
        agreement.scores_a,
        agreement.scores_b,
        agreement.flags_a,
        agreement.flags_b,
        max_points=max_points,
        seed=a.pk or 0,
    )


def compare_runs(a: Run, b: Run) -> Comparison:
    """Agreement of two succeeded runs on the same dataset version."""
    from . import figures

    error = comparison_error(a, b)
    if error:
        return Comparison(error=error)
    agreement = R.agreement(row_ids(a), scores(a), flags(a), row_ids(b), scores(b), flags(b))
    return Comparison(
        stats=agreement.stats,
        metrics=metric_rows(a.metrics or {}, b.metrics or {}),
        figure_url=figures.compare_url(a, b),
        statistics=comparison.compare_statistics(a, b),
    )
