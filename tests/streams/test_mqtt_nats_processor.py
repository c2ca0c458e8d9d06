"""MQTT and NATS JetStream streams through the real processor: scored as a batch run does."""

from __future__ import annotations

import numpy as np
import pytest

from apps.streams.models import DeadLetter, Stream, StreamAnomaly
from apps.streams.sources import mqtt
from apps.streams.sources import nats as nats_source
from tests.brokers import SHARED_MQTT, SHARED_NATS, unique

from .conftest import make_stream, payloads, sensor_frame, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def _records(stream: Stream) -> int:
    stream.refresh_from_db()
    return stream.records_total


def _flagged_ids(fitted, frame, keep: list[int]) -> set[str]:
    batch = fitted.score(frame.iloc[keep])
    return {f"e{keep[j]}" for j in np.flatnonzero(batch.labels)}


def _with_poison(frame) -> tuple[list[bytes], set[int]]:
    sent = payloads(frame)
    poison = set(range(5, len(sent), 100))  # 1 %
    for i in poison:
        sent[i] = b'{"id": "e%d", "temp": 1.0, "pressure": 2.0}' % i  # fields missing
    return sent, poison


def test_an_mqtt_stream_scores_each_record_and_dead_letters_the_poison(model, tenant_a, processor):
    fitted, trained = model
    host, port = SHARED_MQTT
    name = unique("pyn")
    config = {"host": host, "port": port, "topic": f"{name}/in", "qos": 1, "group": name}
    stream = make_stream(tenant_a, trained, "", kind=Stream.Kind.MQTT, config=config)
    frame = sensor_frame(rows=1500, seed=21, anomalies=30)
    sent, poison = _with_poison(frame)
    proc = processor(stream.pk)
    try:
        # MQTT keeps nothing for a subscription that does not exist yet: wait for the processor
        wait_for(lambda: Stream.objects.get(pk=stream.pk).state.get("processor"), timeout=60)
        mqtt.produce(config, "", sent)
        wait_for(lambda: _records(stream) == len(frame) - len(poison))
    finally:
        proc.stop()
    keep = [i for i in range(len(frame)) if i not in poison]
    assert set(
        StreamAnomaly.objects.filter(stream=stream).values_list("event_id", flat=True)
    ) == _flagged_ids(fitted, frame, keep)
    dead = dict(DeadLetter.objects.filter(stream=stream).values_list("event_id", "reason"))
    assert set(dead) == {f"e{i}" for i in poison}
    assert dead["e5"].startswith("missing field")
    assert Stream.objects.get(pk=stream.pk).state.get("lag") is None
    mqtt.end_session(config, "", proc.name)


def test_a_nats_stream_scores_each_record_and_dead_letters_the_poison(model, tenant_a, processor):
    fitted, trained = model
    name = unique("PYNP").replace("-", "_")
    config = {"servers": SHARED_NATS, "stream": name, "subject": f"{name}.in"}
    frame = sensor_frame(rows=3000, seed=22, anomalies=60)
    sent, poison = _with_poison(frame)
    try:
        nats_source.produce(config, "", sent, create_stream=True)
        stream = make_stream(tenant_a, trained, "", kind=Stream.Kind.NATS, config=config)
        processor(stream.pk)
        wait_for(lambda: _records(stream) == len(frame) - len(poison))
        keep = [i for i in range(len(frame)) if i not in poison]
        assert set(
            StreamAnomaly.objects.filter(stream=stream).values_list("event_id", flat=True)
        ) == _flagged_ids(fitted, frame, keep)
        assert DeadLetter.objects.filter(stream=stream).count() == len(poison)
        wait_for(lambda: Stream.objects.get(pk=stream.pk).state.get("lag") == 0, timeout=30)
    finally:
        nats_source.delete_stream(config)
