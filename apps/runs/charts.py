"""Plotly figure builders for run results: plain arrays in, figure dicts out.

No Django here. Every builder gets the full arrays (a 1M-row run included) and sends
the browser only what it can draw: histograms as bins, point clouds decimated to a few
thousand points with every flagged row kept. When a chart shows fewer points than the
data holds, its title says so — nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pynomaly.results import readable

MAX_POINTS = 5000  # background points per scatter-like chart
MAX_FLAGGED_POINTS = 10000  # flagged rows drawn as markers before we keep only the highest scores
RED = "#dc2626"
GREY = "#94a3b8"
INDIGO = "#4f46e5"
AMBER = "#d97706"
MAX_IMPORTANCE_BARS = 20
MAX_WATERFALL_BARS = 12

_BASE_LAYOUT = {
    "margin": {"l": 56, "r": 16, "t": 48, "b": 48},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "#ffffff",
    "font": {"family": "ui-sans-serif, system-ui, sans-serif", "size": 12, "color": "#1e293b"},
    "legend": {"orientation": "h", "y": -0.2},
}


def _layout(title: str, **extra) -> dict:
    return {**_BASE_LAYOUT, "title": {"text": title, "font": {"size": 14}}, **extra}


def compact(values: np.ndarray, digits: int = 6) -> list:
    """Floats rounded to ``digits`` significant digits of the array's largest value, so the
    page's JSON stays small; NaN and infinities become None (JSON has no NaN)."""
    arr = np.asarray(values, dtype="float64")
    finite = np.isfinite(arr)
    if not finite.any():
        return [None] * len(arr)
    top = float(np.abs(arr[finite]).max())
    decimals = digits - 1 - (int(np.floor(np.log10(top))) if top > 0 else 0)
    out = np.round(
        np.where(finite, arr, 0.0), max(decimals, 0) if decimals >= 0 else decimals
    ).tolist()
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            out[i] = None
    return out


def shown_note(shown: int, total: int, noun: str = "points") -> str:
    """'showing 5,000 of 1,000,000 points' when decimated, '' when everything is drawn."""
    return "" if shown >= total else f"showing {shown:,} of {total:,} {noun}"


def _with_note(title: str, note: str) -> str:
    return f"{title}<br><sup>{note}</sup>" if note else title


# ---------------------------------------------------------------- sampling
def minmax_decimate(values: np.ndarray, budget: int) -> np.ndarray:
    """Positions (ascending) of at most ``budget`` values keeping each bucket's min and max.

    ``values`` are in drawing order; peaks and dips survive, the line keeps its shape.
    """
    n = len(values)
    if n <= budget:
        return np.arange(n)
    if budget <= 0:
        return np.arange(0)
    buckets = max(1, budget // 2)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    vals = np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0, posinf=0.0, neginf=0.0)
    keep = np.empty(2 * buckets, dtype=np.int64)
    for i in range(buckets):
        lo, hi = edges[i], edges[i + 1]
        chunk = vals[lo:hi]
        keep[2 * i] = lo + int(chunk.argmin())
        keep[2 * i + 1] = lo + int(chunk.argmax())
    return np.unique(keep)[:budget]


def keep_flagged(
    order: np.ndarray,
    flagged: np.ndarray,
    scores: np.ndarray,
    max_points: int = MAX_POINTS,
    max_flagged: int = MAX_FLAGGED_POINTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``order`` (row positions in drawing order) into (background, flagged) to draw.

    Every flagged row is kept (up to ``max_flagged``, then the highest scores); the rest is
    min-max decimated to ``max_points``. Both results are in drawing order.
    """
    flag_in_order = flagged[order]
    flag_pos = order[flag_in_order]
    if len(flag_pos) > max_flagged:
        top = np.argpartition(-scores[flag_pos], max_flagged - 1)[:max_flagged]
        flag_pos = flag_pos[np.sort(top)]
    rest = order[~flag_in_order]
    rest = rest[minmax_decimate(scores[rest], max_points)]
    return rest, flag_pos


def sample_rows(n: int, size: int, seed: int = 0, must: np.ndarray | None = None) -> np.ndarray:
    """Sorted positions: a seeded uniform sample of ``size`` rows plus every row in ``must``."""
    rng = np.random.default_rng(seed)
    base = np.arange(n) if n <= size else rng.choice(n, size=size, replace=False)
    if must is not None and len(must):
        base = np.union1d(base, np.asarray(must, dtype=np.int64))
    return np.sort(base)


# ---------------------------------------------------------------- figures
def histogram(scores: np.ndarray, threshold: float | None, *, bins: int = 60) -> dict:
    """Score histogram over every row (sent as bins) with the threshold as a red line."""
    finite = scores[np.isfinite(scores)]
    if len(finite) == 0:
        return {"data": [], "layout": _layout("Score distribution — no finite scores")}
    counts, edges = np.histogram(finite, bins=bins)
    centers = (edges[:-1] + edges[1:]) / 2
    above = centers > threshold if threshold is not None else np.zeros(len(centers), bool)
    layout = _layout(
        f"Score distribution ({len(finite):,} rows)",
        xaxis={"title": {"text": "score (higher = more anomalous)"}},
        yaxis={
            "title": {"text": "rows"},
            "type": "log" if counts.max() > 1000 * max(1, np.median(counts)) else "linear",
        },
        bargap=0.02,
        showlegend=False,
    )
    if threshold is not None:
        layout["shapes"] = [
            {
                "type": "line",
                "x0": threshold,
                "x1": threshold,
                "y0": 0,
                "y1": 1,
                "yref": "paper",
                "line": {"color": RED, "width": 2, "dash": "dash"},
            }
        ]
        layout["annotations"] = [
            {
                "x": threshold,
                "y": 1,
                "yref": "paper",
                "text": f"threshold {readable(threshold)}",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
                "font": {"color": RED},
            }
        ]
    return {
        "data": [
            {
                "type": "bar",
                "x": compact(centers),
                "y": counts.tolist(),
                "width": compact(np.diff(edges)),
                "marker": {"color": [RED if a else INDIGO for a in above]},
                "hovertemplate": "score %{x}<br>%{y} rows<extra></extra>",
            }
        ],
        "layout": layout,
    }


def timeseries(
    scores: np.ndarray,
    flagged: np.ndarray,
    x: Sequence | np.ndarray | None = None,
    *,
    x_title: str = "row",
    max_points: int = MAX_POINTS,
    max_flagged: int = MAX_FLAGGED_POINTS,
) -> dict:
    """Score over time (or row order) with flagged rows as red markers; decimated for drawing.

    ``x`` (optional, one value per row) is the dataset's time column; without it the row
    position is the x axis. Rows are drawn in x order when x is sortable.
    """
    n = len(scores)
    order = np.arange(n)
    if x is not None:
        x = np.asarray(x)
        if x.dtype.kind in "iufM":
            order = np.argsort(x, kind="stable")
    rest, flag = keep_flagged(order, flagged.astype(bool), scores, max_points, max_flagged)
    n_flagged = int(flagged.sum())
    note = shown_note(len(rest) + len(flag), n, "points")
    if len(flag) < n_flagged:
        note += f" ({len(flag):,} of {n_flagged:,} flagged rows, highest scores)"
    xs = (lambda pos: pos.tolist()) if x is None else (lambda pos: _x_values(x[pos]))
    return {
        "data": [
            {
                "type": "scattergl",
                "mode": "lines",
                "name": "score",
                "x": xs(rest),
                "y": compact(scores[rest]),
                "line": {"color": GREY, "width": 1},
                "hoverinfo": "x+y",
            },
            {
                "type": "scattergl",
                "mode": "markers",
                "name": "flagged",
                "x": xs(flag),
                "y": compact(scores[flag]),
                "marker": {"color": RED, "size": 6},
                "customdata": flag.tolist(),
                "hovertemplate": "row %{customdata}<br>score %{y}<extra>flagged</extra>",
            },
        ],
        "layout": _layout(
            _with_note("Score over " + ("time" if x is not None else "row order"), note),
            xaxis={"title": {"text": x_title}},
            yaxis={"title": {"text": "score"}},
        ),
    }


def _x_values(values: np.ndarray) -> list:
    if values.dtype.kind == "M":
        return np.datetime_as_string(values, unit="s").tolist()
    if values.dtype.kind == "f":
        return compact(values, 10)
    return [v if isinstance(v, (int, float, str)) or v is None else str(v) for v in values.tolist()]


def heatmap(
    matrix: np.ndarray, row_ids: Sequence[int], features: Sequence[str], *, kind: str = "z-score"
) -> dict:
    """Top anomalies (rows) × features; z-scores diverge around 0, contributions are one-sided."""
    z = np.asarray(matrix, dtype="float64")
    diverging = kind.startswith(("z-score", "attribution"))  # both signed
    limit = float(np.nanmax(np.abs(z))) if z.size and np.isfinite(z).any() else 1.0
    trace = {
        "type": "heatmap",
        "z": [compact(r, 4) for r in z],
        "x": list(features),
        "y": [f"row {r}" for r in row_ids],
        # Plotly's RdBu runs blue (low) to red (high): large positive deviations show red.
        "colorscale": "RdBu" if diverging else "Reds",
        "colorbar": {"title": {"text": kind}},
        "hovertemplate": "%{y}<br>%{x}: %{z}<extra></extra>",
    }
    if diverging:
        trace.update(zmid=0, zmin=-limit, zmax=limit)
    return {
        "data": [trace],
        "layout": _layout(
            f"Top {len(row_ids)} anomalies × features ({kind})",
            yaxis={"autorange": "reversed", "type": "category"},
            xaxis={"type": "category", "tickangle": -30, "automargin": True},
            height=max(320, 18 * len(row_ids) + 140),
            # Row labels ("row 123456") need more room than a numeric axis.
            margin={**_BASE_LAYOUT["margin"], "l": 84, "b": 72},
        ),
    }


def pca_2d(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of already standardised ``X`` and their variance share."""
    X = np.nan_to_num(np.asarray(X, dtype="float64"))
    X = X - X.mean(axis=0)
    if X.shape[1] == 0 or X.shape[0] < 2:
        return np.zeros((X.shape[0], 2)), np.zeros(2)
    u, s, _ = np.linalg.svd(X, full_matrices=False)
    coords = u[:, :2] * s[:2]
    if coords.shape[1] < 2:
        coords = np.column_stack([coords, np.zeros(len(coords))])
    var = s**2
    share = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    return coords, np.pad(share, (0, 2 - len(share)))


def projection(
    coords: np.ndarray,
    scores: np.ndarray,
    flagged: np.ndarray,
    row_ids: np.ndarray,
    *,
    total_rows: int,
    variance: np.ndarray | None = None,
) -> dict:
    """2-D projection of a sample, coloured by score; flagged rows outlined in red."""
    note = shown_note(len(coords), total_rows, "rows (seeded sample + top anomalies)")
    axis = ["PC1", "PC2"]
    if variance is not None:
        axis = [f"PC{i + 1} ({v:.0%} of variance)" for i, v in enumerate(variance[:2])]
    flagged = flagged.astype(bool)
    return {
        "data": [
            {
                "type": "scattergl",
                "mode": "markers",
                "x": compact(coords[:, 0], 4),
                "y": compact(coords[:, 1], 4),
                "customdata": np.asarray(row_ids).tolist(),
                "marker": {
                    "color": compact(scores, 4),
                    "colorscale": "Viridis",
                    "size": 5,
                    "showscale": True,
                    "colorbar": {"title": {"text": "score"}},
                    "line": {"color": [RED if f else "rgba(0,0,0,0)" for f in flagged], "width": 1},
                },
                "hovertemplate": "row %{customdata}<br>score %{marker.color}<extra></extra>",
            }
        ],
        "layout": _layout(
            _with_note("2-D projection (PCA of standardised features)", note),
            xaxis={"title": {"text": axis[0]}},
            yaxis={"title": {"text": axis[1]}},
        ),
    }


def compare_scatter(
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    flagged_a: np.ndarray,
    flagged_b: np.ndarray,
    *,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> dict:
    """Score A against score B, one trace per overlap group; a seeded sample plus flagged rows."""
    n = len(scores_a)
    fa, fb = flagged_a.astype(bool), flagged_b.astype(bool)
    either = np.flatnonzero(fa | fb)
    if len(either) > MAX_FLAGGED_POINTS:
        either = np.sort(
            np.random.default_rng(seed).choice(either, MAX_FLAGGED_POINTS, replace=False)
        )
    pos = sample_rows(n, max_points, seed, must=either)
    groups = [
        ("flagged by both", fa & fb, RED),
        ("only A", fa & ~fb, INDIGO),
        ("only B", ~fa & fb, AMBER),
        ("neither", ~fa & ~fb, GREY),
    ]
    data = []
    for name, mask, color in groups:
        p = pos[mask[pos]]
        data.append(
            {
                "type": "scattergl",
                "mode": "markers",
                "name": f"{name} ({int(mask.sum()):,})",
                "x": compact(scores_a[p]),
                "y": compact(scores_b[p]),
                "customdata": p.tolist(),
                "marker": {"color": color, "size": 5, "opacity": 0.7},
                "hovertemplate": "row %{customdata}<br>A %{x}<br>B %{y}<extra></extra>",
            }
        )
    return {
        "data": data,
        "layout": _layout(
            _with_note("Score of run A vs run B", shown_note(len(pos), n, "rows")),
            xaxis={"title": {"text": "score A"}},
            yaxis={"title": {"text": "score B"}},
        ),
    }


# ---------------------------------------------------------------- explanations
def feature_importance(items: Sequence[dict], *, method: str, rows: int) -> dict:
    """Horizontal bars: mean |attribution| per feature over the explained rows, largest on top."""
    items = list(items)[:MAX_IMPORTANCE_BARS]
    names = [str(i["feature"]) for i in items]
    values = [float(i["value"]) for i in items]
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": compact(np.array(values, dtype="float64"), 4),
        "y": names,
        "marker": {"color": INDIGO},
        "hovertemplate": "%{y}: %{x}<extra></extra>",
    }
    title = _with_note(
        "Feature importance (mean |attribution| over flagged rows)",
        f"{method} · {rows:,} row{'s' if rows != 1 else ''} explained",
    )
    return {
        "data": [trace],
        "layout": _layout(
            title,
            yaxis={"autorange": "reversed", "type": "category", "automargin": True},
            xaxis={"title": {"text": "mean |attribution|"}, "rangemode": "tozero"},
            height=max(280, 24 * len(names) + 120),
            margin={**_BASE_LAYOUT["margin"], "t": 64},
        ),
    }


def waterfall(
    attributions: Sequence[dict],
    *,
    base_value: float,
    output: float,
    method: str,
    units: str = "",
    max_bars: int = MAX_WATERFALL_BARS,
) -> dict:
    """One row's attributions as a waterfall from the base value to the row's explained output.

    Features beyond ``max_bars`` (by |value|) are summed into one "other features" bar, so the
    bars still add up to the output.
    """
    items = list(attributions)
    shown, rest = items[:max_bars], items[max_bars:]
    names = [str(i["feature"]) for i in shown]
    values = [float(i["value"]) for i in shown]
    if rest:
        names.append(f"{len(rest)} other features")
        values.append(float(sum(float(i["value"]) for i in rest)))
    trace = {
        "type": "waterfall",
        "orientation": "h",
        "measure": ["absolute", *["relative"] * len(values), "total"],
        "y": ["base value", *names, "this row"],
        "x": compact(np.array([base_value, *values, output], dtype="float64"), 5),
        "base": 0,
        "increasing": {"marker": {"color": RED}},
        "decreasing": {"marker": {"color": INDIGO}},
        "totals": {"marker": {"color": GREY}},
        "connector": {"line": {"color": GREY, "width": 1}},
        "hovertemplate": "%{y}: %{x}<extra></extra>",
    }
    return {
        "data": [trace],
        "layout": _layout(
            _with_note(
                "Why this row scores as it does", f"{method}" + (f" · {units}" if units else "")
            ),
            yaxis={"autorange": "reversed", "type": "category", "automargin": True},
            xaxis={"title": {"text": "explained output"}},
            height=max(300, 26 * (len(names) + 2) + 120),
            margin={**_BASE_LAYOUT["margin"], "t": 64},
            showlegend=False,
        ),
    }
