"""Helpers shared by the stream tests: service data, streams, the history the processor would store."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

PASSWORD = "br0ker-Pa55word-never-shown"


def online(**extra) -> dict:
    """Service data for an online-learner stream reading Redis on loopback."""
    return {
        "name": "sensors",
        "kind": "redis",
        "config": {"url": "redis://127.0.0.1:6379/0", "key": "pyn-test:sensors"},
        "learner": "hst",
        "columns": ["temperature", "pressure"],
        **extra,
    }


def make_stream(tenant, user, **extra):
    from apps.streams.services import stream_create

    stream, _token = stream_create(tenant=tenant, user=user, data=online(**extra))
    return stream


def make_push_stream(tenant, user, name: str = "pushed"):
    from apps.streams.services import stream_create

    return stream_create(
        tenant=tenant, user=user,
        data={"name": name, "kind": "http", "learner": "hst", "columns": ["x"]},
    )  # fmt: skip


def store_history(stream, *, seconds: int = 5, anomalies: int = 2):
    """What the processor would have stored: per-second buckets and a few anomalies."""
    from apps.streams.models import StreamAnomaly, StreamScoreBucket

    now = timezone.now().replace(microsecond=0)
    for i in range(seconds):
        StreamScoreBucket.objects.create(
            tenant=stream.tenant, stream=stream, start=now - timedelta(seconds=seconds - i),
            records=100, flagged=1 if i == seconds - 1 else 0, score_min=0.1, score_max=0.4 + i / 10,
            score_sum=25.0,
        )  # fmt: skip
    made = [
        StreamAnomaly.objects.create(
            tenant=stream.tenant,
            stream=stream,
            event_id=f"evt-{i}",
            event_time=now,
            score=0.9 + i / 100,
            severity=0.8,
            reasons=[{"column": "temperature", "value": 99.5 + i, "contribution": 0.7}],
            record={"temperature": 99.5 + i, "pressure": 1.0},
        )  # fmt: skip
        for i in range(anomalies)
    ]
    stream.last_record_at = now
    stream.records_total = seconds * 100
    stream.anomalies_total = anomalies
    stream.state = {"records_per_second": 100.0, "lag": 7, "drift": {"temperature": True}}
    stream.save()
    return made
