"""The monitor's history chart: rows, anomalies, max severity and drift per execution (Plotly)."""

from __future__ import annotations

from collections.abc import Sequence

from apps.runs.charts import AMBER, GREY, INDIGO, RED, _layout


def history_figure(executions: Sequence) -> dict:
    """Executions oldest first; skipped ones show as gaps, failed ones as red marks."""
    numbers = [e.number for e in executions]
    done = [e.status == "succeeded" for e in executions]

    def per(attr: str, scale: float = 1.0) -> list:
        return [
            (getattr(e, attr) * scale if getattr(e, attr) is not None else None) if ok else None
            for e, ok in zip(executions, done, strict=True)
        ]

    drift = [
        (100.0 * e.drift.get("share", 0.0)) if ok and e.drift and "share" in e.drift else None
        for e, ok in zip(executions, done, strict=True)
    ]
    failed = [e.number for e in executions if e.status == "failed"]
    data = [
        {"type": "bar", "name": "rows", "x": numbers, "y": per("rows"), "marker": {"color": GREY}},
        {
            "type": "bar",
            "name": "anomalies",
            "x": numbers,
            "y": per("anomalies"),
            "marker": {"color": RED},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "max severity (0–100)",
            "x": numbers,
            "y": per("max_severity"),
            "yaxis": "y2",
            "line": {"color": INDIGO},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "drifted features (%)",
            "x": numbers,
            "y": drift,
            "yaxis": "y2",
            "line": {"color": AMBER, "dash": "dot"},
        },
    ]
    if failed:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "failed",
                "x": failed,
                "y": [0] * len(failed),
                "marker": {"color": RED, "symbol": "x", "size": 10},
            }
        )
    return {
        "data": data,
        "layout": _layout(
            "Executions",
            barmode="group",
            xaxis={"title": {"text": "execution"}, "dtick": 1 if len(numbers) <= 20 else None},
            margin={"l": 56, "r": 64, "t": 48, "b": 48},
            yaxis={"title": {"text": "rows"}, "rangemode": "tozero"},
            yaxis2={
                "title": {"text": "severity / drift %", "standoff": 8},
                "overlaying": "y",
                "side": "right",
                "range": [0, 105],
            },
        ),
    }
