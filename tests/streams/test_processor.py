"""The stream processor end to end against a real Redis: scores, poison messages, redelivery."""

from __future__ import annotations

import numpy as np
import pytest

from apps.streams.models import DeadLetter, Stream, StreamAnomaly, StreamScoreBucket
from apps.streams.sources.redis import produce

from .conftest import make_stream, payloads, sensor_frame, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _records(stream: Stream) -> int:
    stream.refresh_from_db()
    return stream.records_total


def test_a_stream_scores_each_record_as_a_batch_run_does(model, tenant_a, redis_key, processor):
    fitted, trained = model
    frame = sensor_frame(rows=3000, seed=5, anomalies=60)
    stream = make_stream(tenant_a, trained, redis_key)
    produce({"key": redis_key}, payloads(frame))
    processor(stream.pk)
    wait_for(lambda: _records(stream) == len(frame))

    batch = fitted.score(frame)
    flagged = np.flatnonzero(batch.labels)
    stored = {a.event_id: a for a in StreamAnomaly.objects.filter(stream=stream)}
    assert sorted(stored) == sorted(f"e{i}" for i in flagged)
    for i in flagged:
        anomaly = stored[f"e{i}"]
        assert anomaly.score == batch.scores[i]
        assert anomaly.severity == batch.severity[i]
        assert anomaly.reasons and anomaly.reasons[0]["column"] in frame.columns
    stream.refresh_from_db()
    assert stream.anomalies_total == len(flagged)
    assert sum(
        StreamScoreBucket.objects.filter(stream=stream).values_list("records", flat=True)
    ) == len(frame)
    assert stream.state["error"] == ""
    assert stream.state["processor"].startswith("test:")
    # once idle, the stored state says nothing waits
    wait_for(lambda: Stream.objects.get(pk=stream.pk).state.get("lag") == 0, timeout=30)


def test_poison_messages_go_to_dead_letters_and_the_rest_is_scored(
    model, tenant_a, redis_key, processor
):
    fitted, trained = model
    frame = sensor_frame(rows=2000, seed=9, anomalies=30)
    good = payloads(frame)
    poison = {
        13: b'{"id": "e13", "temp": 1.0',  # bad JSON
        250: b'{"id": "e250", "temp": "hot", "pressure": 1, "vibration": 0, "flow": 2}',
        777: b'{"id": "e777", "temp": 1.0, "pressure": 1, "vibration": 0}',
        1000: b"[1, 2, 3]",
    }
    sent = [poison.get(i, p) for i, p in enumerate(good)]
    # 1 %: 20 poison messages in all
    for i in range(1100, 1116):
        sent[i] = b'{"id": "e%d", "temp": true, "pressure": 1, "vibration": 0, "flow": 2}' % i
    stream = make_stream(tenant_a, trained, redis_key)
    ids = produce({"key": redis_key}, sent)
    processor(stream.pk)
    wait_for(lambda: _records(stream) == len(frame) - 20)

    dead = {d.event_id: d.reason for d in DeadLetter.objects.filter(stream=stream)}
    assert len(dead) == 20
    assert dead[ids[13]].startswith("not JSON")
    assert dead["e250"] == "field 'temp' must be a number, got text 'hot'"
    assert dead["e777"].startswith("missing field 'flow'")
    assert dead[ids[1000]].startswith("not a JSON object")
    assert dead["e1100"] == "field 'temp' must be a number, got true/false True"
    stream.refresh_from_db()
    assert stream.dead_letters_total == 20
    keep = [i for i in range(len(frame)) if i not in poison and not 1100 <= i < 1116]
    batch = fitted.score(frame.iloc[keep])
    expected = {f"e{keep[j]}" for j in np.flatnonzero(batch.labels)}
    assert (
        set(StreamAnomaly.objects.filter(stream=stream).values_list("event_id", flat=True))
        == expected
    )
