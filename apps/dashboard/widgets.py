"""The overview's widgets: what each one is, the default layout per role, and validation.

A layout is a list of ``{"type": <kind>}`` or, for widgets about one object,
``{"type": <kind>, "id": <pk>}``. ``clean_widgets`` is the one gate every write passes: an
unknown kind or a malformed entry is a ``LayoutError`` (400); a run, monitor or stream that is
not the workspace's is ``Http404`` — another workspace's ids are never confirmed to exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import Http404

from apps.monitors.models import Monitor
from apps.runs.models import Run
from apps.streams.models import Stream
from apps.tenants.models import Role

MAX_WIDGETS = 20


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    description: str
    target: Any = None  # the model class an ``id`` names, for per-object widgets


KINDS: dict[str, Kind] = {
    k.key: k
    for k in (
        Kind("open_alerts", "Open alerts", "Alerts still open and your unread notifications."),
        Kind("recent_runs", "Recent runs", "The latest runs with their state and anomaly counts."),
        Kind(
            "anomalies_over_time",
            "Anomalies over time",
            "Anomalies found per day by runs, monitors and streams (last 30 days).",
        ),
        Kind("health", "Monitors and streams", "Each monitor's and stream's health."),
        Kind("recent_datasets", "Recent datasets", "Datasets added lately."),
        Kind("counts", "Counts", "How many datasets, runs, monitors, streams and open alerts."),
        Kind("run_chart", "A run's score chart", "One run's score distribution.", Run),
        Kind("monitor_history", "A monitor's history", "One monitor's executions.", Monitor),
        Kind(
            "stream_live",
            "A stream's live chart",
            "One stream's recent scores, threshold, state and anomalies, updated live.",
            Stream,
        ),
    )
}

# What a member sees before arranging anything: people who run the workspace look at health
# and alerts first; analysts at their runs and data; viewers at the results.
DEFAULTS: dict[str, list[dict[str, Any]]] = {
    Role.OWNER: [
        {"type": "open_alerts"},
        {"type": "health"},
        {"type": "anomalies_over_time"},
        {"type": "recent_runs"},
        {"type": "counts"},
        {"type": "recent_datasets"},
    ],
    Role.ANALYST: [
        {"type": "recent_runs"},
        {"type": "anomalies_over_time"},
        {"type": "open_alerts"},
        {"type": "recent_datasets"},
        {"type": "health"},
    ],
    Role.VIEWER: [
        {"type": "anomalies_over_time"},
        {"type": "recent_runs"},
        {"type": "open_alerts"},
        {"type": "counts"},
    ],
}
DEFAULTS[Role.ADMIN] = DEFAULTS[Role.OWNER]


class LayoutError(ValueError):
    """A layout that is not a list of known widgets (shown to the user, answered with 400)."""


def default_layout(role: str) -> list[dict[str, Any]]:
    return [dict(w) for w in DEFAULTS.get(role, DEFAULTS[Role.VIEWER])]


def clean_widget(tenant, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or set(raw) - {"type", "id"}:
        raise LayoutError("A widget is an object with a type (and an id for one object).")
    kind = KINDS.get(raw.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise LayoutError(f"Unknown widget {raw.get('type')!r}.")
    if kind.target is None:
        if "id" in raw:
            raise LayoutError(f"The {kind.label.lower()} widget takes no id.")
        return {"type": kind.key}
    ident = raw.get("id")
    if isinstance(ident, str) and ident.isdigit():
        ident = int(ident)
    if not isinstance(ident, int) or isinstance(ident, bool) or ident < 1:
        raise LayoutError(f"Choose which one the {kind.label.lower()} widget shows.")
    if not kind.target.objects.for_tenant(tenant).filter(pk=ident).exists():
        raise Http404(f"No such {kind.target.__name__.lower()} in this workspace.")
    return {"type": kind.key, "id": ident}


def clean_widgets(tenant, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise LayoutError("A layout is a list of widgets.")
    if len(raw) > MAX_WIDGETS:
        raise LayoutError(f"At most {MAX_WIDGETS} widgets.")
    clean = [clean_widget(tenant, w) for w in raw]
    seen: set[tuple] = set()
    for w in clean:
        key = (w["type"], w.get("id"))
        if key in seen:
            raise LayoutError(
                f"The {KINDS[w['type']].label.lower()} widget is already on your overview."
            )
        seen.add(key)
    return clean
