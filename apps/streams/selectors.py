"""Reads for the stream pages, the live socket and the API; every one scoped to a tenant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.tenants.access import get_scoped_or_404

from .models import DeadLetter, Stream, StreamAnomaly, StreamScoreBucket

# The chart shows this much history: one bucket per second, so at most this many points x 2.
CHART_SECONDS = 600
LATEST_ANOMALIES = 10


def streams_for_list(tenant) -> QuerySet[Stream]:
    return Stream.objects.for_tenant(tenant).select_related("model").order_by("name")


def get_stream_for_member(request, stream_id: int) -> Stream:
    """The stream if it belongs to the request's tenant; 404 otherwise (never 403)."""
    return get_scoped_or_404(
        request, Stream.objects.select_related("tenant", "model"), pk=stream_id
    )


def threshold_of(stream: Stream) -> float | None:
    if stream.threshold is not None:
        return stream.threshold
    return stream.model.threshold if stream.model is not None else None


def anomaly_out(a: StreamAnomaly) -> dict[str, Any]:
    """One anomaly as the live message and the API carry it."""
    return {
        "id": a.pk,
        "event_id": a.event_id,
        "event_time": a.event_time.isoformat(),
        "score": a.score,
        "severity": a.severity,
        "reasons": a.reasons,
    }


def latest_anomalies(stream: Stream, limit: int = LATEST_ANOMALIES) -> list[StreamAnomaly]:
    return list(
        StreamAnomaly.objects.filter(tenant_id=stream.tenant_id, stream=stream).order_by(
            "-event_time", "-id"
        )[:limit]
    )


def recent_points(stream: Stream, seconds: int = CHART_SECONDS) -> list[list[float]]:
    """The chart's points from the stored history: per second its min and max score, flagged if any.

    ``[[epoch_ms, score, flagged 0|1], ...]`` as in the processor's live message, oldest first.
    """
    since = (stream.last_record_at or timezone.now()) - timedelta(seconds=seconds)
    rows = (
        StreamScoreBucket.objects.filter(
            tenant_id=stream.tenant_id, stream=stream, start__gte=since
        )
        .order_by("start")
        .values_list("start", "score_min", "score_max", "flagged")[: seconds + 1]
    )
    points: list[list[float]] = []
    for start, low, high, flagged in rows:
        ms = int(start.timestamp() * 1000)
        points.append([ms, low, 0])
        if high != low or flagged:
            points.append([ms + 500, high, 1 if flagged else 0])
    return points


def stats(stream: Stream) -> dict[str, Any]:
    state = stream.state or {}
    return {
        "records_total": stream.records_total,
        "anomalies_total": stream.anomalies_total,
        "dead_letters_total": stream.dead_letters_total,
        "records_per_second": state.get("records_per_second", 0.0),
        "lag": state.get("lag"),
        "drift": state.get("drift", {}),
        "status": stream.status,
        "error": state.get("error", ""),
        "last_record_at": stream.last_record_at.isoformat() if stream.last_record_at else None,
    }


def live_state(stream: Stream) -> dict[str, Any]:
    """What the page draws on every (re)connect: the stored history, the latest anomalies, the figures."""
    return {
        "reset": True,
        "points": recent_points(stream),
        "threshold": threshold_of(stream),
        "stats": stats(stream),
        "anomalies": [anomaly_out(a) for a in latest_anomalies(stream)],
    }


def dead_letters(stream: Stream, limit: int = 50) -> list[DeadLetter]:
    return list(
        DeadLetter.objects.filter(tenant_id=stream.tenant_id, stream=stream).order_by(
            "-received_at", "-id"
        )[:limit]
    )
