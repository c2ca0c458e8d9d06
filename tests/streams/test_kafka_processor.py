"""Kafka streams through the real processor: scored as a batch run, poison, a killed processor."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition

from apps.streams import store
from apps.streams.models import DeadLetter, Stream, StreamAnomaly
from apps.streams.processor import build_engine
from apps.streams.sources import kafka
from tests.brokers import drain, stream_processor, unique
from tests.brokers import tansu as tansu  # noqa: F401 (fixture)

from .conftest import make_stream, payloads, sensor_frame, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def _kafka_stream(tenant, trained, broker, partitions: int = 2) -> Stream:
    topic = unique("t")
    broker.create_topic(topic, partitions=partitions)
    config = {"bootstrap_servers": broker.bootstrap, "topic": topic, "group": unique("g")}
    return make_stream(tenant, trained, "", kind=Stream.Kind.KAFKA, config=config)


def _records(stream: Stream) -> int:
    stream.refresh_from_db()
    return stream.records_total


def _committed(config: dict, partitions: int) -> list[int]:
    """The group's committed offsets, read without joining it (OFFSET_INVALID, negative,
    for a partition with nothing committed)."""
    reader = Consumer(
        {"bootstrap.servers": config["bootstrap_servers"], "group.id": config["group"]}
    )
    try:
        tps = [TopicPartition(config["topic"], p) for p in range(partitions)]
        return [tp.offset for tp in reader.committed(tps, timeout=10)]
    finally:
        reader.close()


def _flagged_ids(fitted, frame, keep=None) -> set[str]:
    rows = list(range(len(frame))) if keep is None else keep
    batch = fitted.score(frame.iloc[rows])
    return {f"e{rows[j]}" for j in np.flatnonzero(batch.labels)}


def test_a_kafka_stream_scores_each_record_as_a_batch_run_does(model, tenant_a, tansu, processor):
    fitted, trained = model
    frame = sensor_frame(rows=3000, seed=3, anomalies=60)
    stream = _kafka_stream(tenant_a, trained, tansu)
    kafka.produce(stream.config, "", payloads(frame))
    processor(stream.pk)
    wait_for(lambda: _records(stream) == len(frame))

    batch = fitted.score(frame)
    stored = {a.event_id: a for a in StreamAnomaly.objects.filter(stream=stream)}
    assert set(stored) == _flagged_ids(fitted, frame)
    for i in np.flatnonzero(batch.labels):
        assert stored[f"e{i}"].score == batch.scores[i]
    wait_for(lambda: Stream.objects.get(pk=stream.pk).state.get("lag") == 0, timeout=30)
    assert Stream.objects.get(pk=stream.pk).state["error"] == ""
    # the producer's sticky partitioner may have put every record on one partition
    assert sum(max(o, 0) for o in _committed(stream.config, 2)) == len(frame)


def test_poison_kafka_messages_go_to_dead_letters_and_the_rest_is_scored(
    model, tenant_a, tansu, processor
):
    fitted, trained = model
    frame = sensor_frame(rows=2000, seed=4, anomalies=30)
    sent = payloads(frame)
    poison = {
        i: b'{"id": "e%d", "temp": "hot", "pressure": 1, "vibration": 0, "flow": 2}' % i
        for i in range(7, 2000, 100)
    }  # 1 %: 20 of 2000
    poison[507] = b'{"id": "e507", "temp": 1.0'  # not JSON: its id is its coordinates
    for i, body in poison.items():
        sent[i] = body
    stream = _kafka_stream(tenant_a, trained, tansu, partitions=1)
    kafka.produce(stream.config, "", sent)
    processor(stream.pk)
    wait_for(lambda: _records(stream) == len(frame) - len(poison))

    dead = {d.event_id: d.reason for d in DeadLetter.objects.filter(stream=stream)}
    assert len(dead) == len(poison) == 20
    assert dead["e7"] == "field 'temp' must be a number, got text 'hot'"
    assert dead[f"{stream.config['topic']}/0/507"].startswith("not JSON")
    keep = [i for i in range(len(frame)) if i not in poison]
    assert set(
        StreamAnomaly.objects.filter(stream=stream).values_list("event_id", flat=True)
    ) == _flagged_ids(fitted, frame, keep)


def test_a_kafka_batch_stored_and_not_committed_never_makes_a_second_anomaly_row(
    model, tenant_a, tansu, processor
):
    fitted, trained = model
    frame = sensor_frame(rows=3000, seed=23, anomalies=50)
    stream = _kafka_stream(tenant_a, trained, tansu, partitions=1)
    kafka.produce(stream.config, "", payloads(frame))
    # A processor reads a batch, stores what it found, and dies before it commits.
    victim = kafka.KafkaConsumer.from_stream(stream, "victim:1")
    messages = drain(victim, 1000, batch=1000)
    outcome = build_engine(stream).process(
        [m.payload for m in messages],
        [m.coordinates for m in messages],
        [m.received_at for m in messages],
    )
    first = store.store_outcome(
        stream_id=stream.pk,
        outcome=outcome,
        processor="victim:1",
        records_per_second=0,
        lag=None,
        now=time.time(),
    )
    victim.close()
    assert first.anomalies > 0
    assert _committed(stream.config, 1) == [OFFSET_INVALID]  # nothing committed

    processor(stream.pk)  # reads the topic from the start again
    wait_for(lambda: _committed(stream.config, 1) == [len(frame)], timeout=120)
    ids = list(StreamAnomaly.objects.filter(stream=stream).values_list("event_id", flat=True))
    assert len(ids) == len(set(ids))
    assert set(ids) == _flagged_ids(fitted, frame)
    stream.refresh_from_db()
    assert stream.anomalies_total == len(ids)  # the redelivered ones were not counted twice
    assert stream.records_total == len(frame) + 1000  # the 1000 were scored twice


def test_a_killed_processor_resumes_from_the_committed_offsets_and_stores_each_event_once(
    model, tenant_a, tansu, tmp_path
):
    fitted, trained = model
    frame = sensor_frame(rows=40_000, seed=11, anomalies=400)
    frame = frame.sample(frac=1.0, random_state=2).reset_index(drop=True)  # anomalies throughout
    stream = _kafka_stream(tenant_a, trained, tansu)
    Stream.objects.filter(pk=stream.pk).update(batch_size=500)
    sent = payloads(frame)
    half = len(sent) // 2
    kafka.produce(stream.config, "", sent[:half])

    with stream_processor(stream.pk, "kafka-proc-1", tmp_path) as first:
        # a few batches in (it reads 20,000 in well under a second): look often
        wait_for(lambda: _records(stream) >= 1000, timeout=180, step=0.01)
        first.send_signal(signal.SIGKILL)  # mid-stream: no close, no last commit
        first.wait(10)
    killed_at = _records(stream)
    committed_at_kill = sum(max(o, 0) for o in _committed(stream.config, 2))
    assert killed_at < half  # it was killed mid-stream
    kafka.produce(stream.config, "", sent[half:])

    restarted = time.monotonic()
    with stream_processor(stream.pk, "kafka-proc-1", tmp_path):
        wait_for(lambda: _records(stream) > killed_at, timeout=120)
        resumed_after = time.monotonic() - restarted
        wait_for(
            lambda: sum(max(o, 0) for o in _committed(stream.config, 2)) == len(sent), timeout=300
        )

    expected = _flagged_ids(fitted, frame)
    rows = list(StreamAnomaly.objects.filter(stream=stream).values_list("event_id", flat=True))
    assert sorted(rows) == sorted(expected)  # every flagged event once, none twice or missing
    stream.refresh_from_db()
    assert stream.anomalies_total == len(expected)
    # redelivered: at most what was read after the last commit before the kill, scored again
    assert len(sent) <= stream.records_total <= len(sent) + (killed_at - committed_at_kill) + 1000
    print(
        f"kafka: killed at {killed_at} records ({committed_at_kill} committed); "
        f"the restarted processor stored again after {resumed_after:.1f} s"
    )
