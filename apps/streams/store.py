"""Storing what a micro-batch produced, in one transaction, before the broker is told.

* Anomalies and dead letters are written with ``ignore_conflicts`` on (stream, event id):
  a redelivered batch (a processor killed between storing and committing) adds nothing,
  and the counters count only the rows that are new — exactly once.
* The per-second buckets and ``records_total`` count every stored batch: after a
  redelivery they count the redelivered records twice (at-least-once). They are the
  history of the chart, not a ledger; the anomaly rows are.
* ``Stream.state`` merges the view of every processor serving the stream (several share
  one stream through the consumer group): records/s is their sum, drift their union.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max, Sum
from django.db.models.functions import Greatest, Least

from pynomaly.streaming import Outcome

from .models import DeadLetter, Stream, StreamAnomaly, StreamScoreBucket

PROCESSOR_SEEN_SECONDS = 30.0  # a processor silent longer drops out of the stream's state


class StreamGone(Exception):
    """The stream was deleted while its processor ran."""


@dataclass(frozen=True)
class Stored:
    records: int
    anomalies: int  # new rows
    dead_letters: int  # new rows


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _new_ids(model: type[StreamAnomaly] | type[DeadLetter], stream_id: int, ids: list[str]) -> set:
    if not ids:
        return set()
    known: set[str] = set()
    for start in range(0, len(ids), 900):  # SQLite's bound on query parameters
        chunk = ids[start : start + 900]
        known.update(
            model.objects.filter(stream_id=stream_id, event_id__in=chunk).values_list(
                "event_id", flat=True
            )
        )
    return set(ids) - known


def store_outcome(
    *,
    stream_id: int,
    outcome: Outcome,
    processor: str,
    records_per_second: float,
    lag: int | None,
    now: float,
) -> Stored:
    """Write ``outcome`` and the stream's counters and state; one transaction."""
    with transaction.atomic():
        stream = Stream.objects.select_for_update().filter(pk=stream_id).only("tenant_id", "state")
        row = stream.first()
        if row is None:
            raise StreamGone(stream_id)
        tenant_id = row.tenant_id
        fresh = _new_ids(StreamAnomaly, stream_id, [a.event_id for a in outcome.anomalies])
        anomalies = [
            StreamAnomaly(
                tenant_id=tenant_id,
                stream_id=stream_id,
                event_id=a.event_id,
                event_time=_when(a.event_time),
                score=a.score,
                severity=a.severity,
                reasons=a.reasons,
                record=a.record,
            )
            for a in outcome.anomalies
            if a.event_id in fresh
        ]
        StreamAnomaly.objects.bulk_create(anomalies, ignore_conflicts=True, batch_size=500)
        fresh_dead = _new_ids(DeadLetter, stream_id, [d.event_id for d in outcome.dead])
        dead = [
            DeadLetter(
                tenant_id=tenant_id,
                stream_id=stream_id,
                event_id=d.event_id,
                reason=d.reason,
                payload=d.payload,
                received_at=_when(d.received_at),
            )
            for d in outcome.dead
            if d.event_id in fresh_dead
        ]
        DeadLetter.objects.bulk_create(dead, ignore_conflicts=True, batch_size=500)
        if outcome.buckets:
            _add_buckets(tenant_id, stream_id, outcome.buckets)
        state = merged_state(
            row.state,
            processor=processor,
            now=now,
            records_per_second=records_per_second,
            lag=lag,
            drift=outcome.drift,
            drift_events=outcome.drift_events,
            threshold=outcome.threshold,
        )
        counters: dict[str, Any] = {"state": state}
        if outcome.records:
            counters["records_total"] = F("records_total") + outcome.records
            counters["last_record_at"] = _when(now)
        if anomalies:
            counters["anomalies_total"] = F("anomalies_total") + len(anomalies)
        if dead:
            counters["dead_letters_total"] = F("dead_letters_total") + len(dead)
        # update(), not save(): the stream's updated_at (its configuration's version) stays.
        Stream.objects.filter(pk=stream_id).update(**counters)
    return Stored(outcome.records, len(anomalies), len(dead))


def _add_buckets(tenant_id: int, stream_id: int, rows: list[tuple]) -> None:
    starts = {_when(r[0]): r for r in rows}
    for attempt in range(2):
        try:
            with transaction.atomic():  # a savepoint: a concurrent insert of a bucket → retry
                existing = set(
                    StreamScoreBucket.objects.filter(
                        stream_id=stream_id, start__in=list(starts)
                    ).values_list("start", flat=True)
                )
                for start in existing:
                    _, n, flagged, low, high, total = starts[start]
                    StreamScoreBucket.objects.filter(stream_id=stream_id, start=start).update(
                        records=F("records") + n,
                        flagged=F("flagged") + flagged,
                        score_min=Least(F("score_min"), low),
                        score_max=Greatest(F("score_max"), high),
                        score_sum=F("score_sum") + total,
                    )
                StreamScoreBucket.objects.bulk_create(
                    [
                        StreamScoreBucket(
                            tenant_id=tenant_id,
                            stream_id=stream_id,
                            start=start,
                            records=r[1],
                            flagged=r[2],
                            score_min=r[3],
                            score_max=r[4],
                            score_sum=r[5],
                        )
                        for start, r in starts.items()
                        if start not in existing
                    ]
                )
            return
        except IntegrityError:
            if attempt:
                raise


def merged_state(
    state: dict | None,
    *,
    processor: str,
    now: float,
    records_per_second: float,
    lag: int | None,
    drift: dict[str, bool] | None = None,
    drift_events: dict[str, float] | None = None,
    threshold: float | None = None,
    error: str = "",
) -> dict[str, Any]:
    """The stream's state with this processor's view folded in (module note)."""
    state = dict(state or {})
    processors = {
        name: view
        for name, view in (state.get("processors") or {}).items()
        if now - float(view.get("at", 0)) < PROCESSOR_SEEN_SECONDS and name != processor
    }
    mine: dict[str, Any] = {
        "at": now,
        "records_per_second": round(records_per_second, 1),
        "drift": drift
        if drift is not None
        else (state.get("processors") or {}).get(processor, {}).get("drift", {}),
        "error": error,
    }
    processors[processor] = mine
    columns = sorted({c for view in processors.values() for c in (view.get("drift") or {})})
    drift_at = dict(state.get("drift_at") or {})
    for column, when in (drift_events or {}).items():
        drift_at[column] = datetime.fromtimestamp(when, tz=UTC).isoformat()
    state.update(
        processors=processors,
        records_per_second=round(sum(v["records_per_second"] for v in processors.values()), 1),
        drift={
            c: any((v.get("drift") or {}).get(c, False) for v in processors.values())
            for c in columns
        },
        drift_at=drift_at,
        error="; ".join(f"{name}: {v['error']}" for name, v in processors.items() if v["error"]),
        processor=processor,
        updated_at=datetime.fromtimestamp(now, tz=UTC).isoformat(),
    )
    if lag is not None or "lag" not in state:
        state["lag"] = lag
    if threshold is not None and threshold == threshold:  # not NaN
        state["threshold"] = threshold
    return state


def record_state(
    *,
    stream_id: int,
    processor: str,
    now: float,
    records_per_second: float = 0.0,
    lag: int | None = None,
    error: str = "",
) -> None:
    """The processor's view without a batch: idle (lag, 0 records/s) or failing (error)."""
    with transaction.atomic():
        row = Stream.objects.select_for_update().filter(pk=stream_id).only("state").first()
        if row is None:
            return
        state = merged_state(
            row.state,
            processor=processor,
            now=now,
            records_per_second=records_per_second,
            lag=lag,
            error=error[:500],
        )
        Stream.objects.filter(pk=stream_id).update(state=state)


def window_figures(stream_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """What a stream's alert rules look at over [start, end): records, anomalies, severity."""
    totals = StreamScoreBucket.objects.filter(
        stream_id=stream_id, start__gte=start, start__lt=end
    ).aggregate(records=Sum("records"), flagged=Sum("flagged"))
    anomalies = StreamAnomaly.objects.filter(
        stream_id=stream_id, event_time__gte=start, event_time__lt=end
    ).aggregate(max_severity=Max("severity"))
    records = int(totals["records"] or 0)
    flagged = int(totals["flagged"] or 0)
    return {
        "records": records,
        "anomalies": flagged,
        "max_severity": anomalies["max_severity"],
        "flagged_share": flagged / records if records else None,
    }
