"""Plotly figures of a time-series run: one series with its anomalous intervals shaded,
and the swimlane overview (one lane per series, intervals as bars). No Django here."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .charts import (
    AMBER,
    GREY,
    INDIGO,
    RED,
    _layout,
    _with_note,
    _x_values,
    compact,
    minmax_decimate,
    shown_note,
)

MAX_SERIES_POINTS = 4000  # per value column; flagged points are always drawn
MAX_LANES = 60
_LINE_COLOURS = (INDIGO, "#0891b2", "#16a34a", AMBER, "#9333ea", GREY)


def series(
    times: np.ndarray,
    values: np.ndarray,
    names: Sequence[str],
    flagged: np.ndarray,
    scores: np.ndarray,
    found: Sequence[dict],
    *,
    title: str,
    max_points: int = MAX_SERIES_POINTS,
) -> dict:
    """Values over time, anomalous intervals as red bands, flagged points as markers; a range
    slider under the plot zooms, and box/lasso selection brushes points."""
    n = len(times)
    traces: list[dict] = []
    shown = 0
    for j, name in enumerate(names):
        keep = minmax_decimate(values[:, j], max_points)
        keep = np.union1d(keep, np.flatnonzero(flagged))
        shown = max(shown, len(keep))
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": name,
                "x": _x_values(times[keep]),
                "y": compact(values[keep, j]),
                "line": {"color": _LINE_COLOURS[j % len(_LINE_COLOURS)], "width": 1.2},
            }
        )
    hits = np.flatnonzero(flagged)
    if len(hits):
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "flagged",
                "x": _x_values(times[hits]),
                "y": compact(values[hits, 0]),
                "customdata": compact(scores[hits]),
                "marker": {"color": RED, "size": 6},
                "hovertemplate": "%{x}<br>%{y}<br>score %{customdata}<extra>flagged</extra>",
            }
        )
    shapes = [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": item["start"],
            "x1": item["end"],
            "y0": 0,
            "y1": 1,
            "fillcolor": RED,
            "opacity": 0.15 + 0.25 * min(max(item["severity"], 0.0), 100.0) / 100.0,
            "line": {"width": 1, "color": RED},
            "layer": "below",
            "name": f"interval {k}",
        }
        for k, item in enumerate(found)
    ]
    layout = _layout(
        _with_note(title, shown_note(shown, n, "points")),
        shapes=shapes,
        dragmode="zoom",
        hovermode="closest",
        xaxis={"title": {"text": "time"}, "rangeslider": {"visible": True}},
        yaxis={"title": {"text": ", ".join(names) if len(names) <= 3 else "value"}},
        meta={"intervals": len(found)},
    )
    layout["modebar"] = {"add": ["select2d", "lasso2d"]}
    return {"data": traces, "layout": layout}


def swimlane(lanes: Sequence[str], found: Sequence[dict], *, span: tuple) -> dict:
    """One horizontal lane per series (the first :data:`MAX_LANES`, the title says so); each
    interval a bar from its start to its end, single-point intervals as a tick."""
    total = len(lanes)
    lanes = list(lanes)[:MAX_LANES]
    shown = set(lanes)
    xs: list = []
    ys: list = []
    text: list = []
    singles_x: list = []
    singles_y: list = []
    singles_text: list = []
    for item in found:
        lane = item["series"] or "series"
        if lane not in shown:
            continue
        label = f"{lane}: {item['start']} – {item['end']}<br>severity {item['severity']:.1f}"
        if item["start"] == item["end"]:
            singles_x.append(item["start"])
            singles_y.append(lane)
            singles_text.append(label)
            continue
        xs += [item["start"], item["end"], None]
        ys += [lane, lane, None]
        text += [label, label, None]
    traces = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": "interval",
            "x": xs,
            "y": ys,
            "text": text,
            "hoverinfo": "text",
            "line": {"color": RED, "width": 14},
        },
        {
            "type": "scatter",
            "mode": "markers",
            "name": "single point",
            "x": singles_x,
            "y": singles_y,
            "text": singles_text,
            "hoverinfo": "text",
            "marker": {
                "color": RED,
                "size": 12,
                "symbol": "line-ns",
                "line": {"width": 3, "color": RED},
            },
        },
        {  # every lane, invisible: a series without intervals keeps its (empty) lane
            "type": "scatter",
            "mode": "markers",
            "name": "lanes",
            "x": [span[0]] * len(lanes),
            "y": lanes,
            "marker": {"opacity": 0},
            "hoverinfo": "skip",
        },
    ]
    note = shown_note(len(lanes), total, "series")
    return {
        "data": traces,
        "layout": _layout(
            _with_note("Anomalous intervals by series", note),
            showlegend=False,
            height=max(180, 40 + 28 * len(lanes)),
            xaxis={"title": {"text": "time"}, "range": list(span)},
            yaxis={
                "type": "category",
                "categoryarray": list(reversed(lanes)),
                "categoryorder": "array",
                "range": [-0.5, len(lanes) - 0.5],
                "automargin": True,
            },
            meta={"lanes": len(lanes)},
        ),
    }
