"""The Redis Streams adapter and the adapter registry, against a real Redis."""

from __future__ import annotations

import time

import pytest

from apps.streams import sources
from apps.streams.models import Stream
from apps.streams.sources.redis import RedisConsumer, produce

from .conftest import make_stream, wait_for


def test_packed_entries_come_back_one_message_per_record_and_polls_stay_bounded(redis_key):
    coords = produce({"key": redis_key}, [b'{"n": %d}' % i for i in range(1000)], pack=100)
    assert coords[:2] == [f"{coords[0].split('/')[0]}/0", f"{coords[0].split('/')[0]}/1"]
    consumer = RedisConsumer({"key": redis_key, "group": "g"}, "c1")
    try:
        seen = []
        while len(seen) < 1000:
            batch = consumer.poll(250, 1.0)
            assert len(batch) <= 250
            seen += batch
            consumer.commit(batch)
        assert [m.payload for m in seen] == [b'{"n": %d}' % i for i in range(1000)]
        assert [m.coordinates for m in seen] == coords
        assert consumer.lag() == 0
        produce({"key": redis_key}, [b"{}"] * 7)
        assert consumer.lag() == 7
    finally:
        consumer.close()


def test_entries_pending_on_a_silent_consumer_are_taken_over(redis_key):
    produce({"key": redis_key}, [b'{"n": 1}', b'{"n": 2}'])
    dead = RedisConsumer({"key": redis_key, "group": "g"}, "dead")
    read = dead.poll(10, 1.0)  # a first poll takes one entry (to learn how entries are packed)
    read += dead.poll(10, 1.0)
    assert len(read) == 2  # read, never acknowledged
    dead.close()
    time.sleep(0.2)  # longer than the idle time below
    live = RedisConsumer({"key": redis_key, "group": "g"}, "live", claim_idle_seconds=0.1)
    try:
        taken = live.poll(10, 0.1)
        taken += live.poll(10, 0.1)
        assert sorted(m.payload for m in taken) == [b'{"n": 1}', b'{"n": 2}']
        live.commit(taken)
        assert live.poll(10, 0.1) == []
    finally:
        live.close()


def test_a_restarted_consumer_hands_out_its_own_pending_entries_once_when_reading_ahead(
    redis_key,
):
    produce({"key": redis_key}, [b'{"n": %d}' % i for i in range(6)])
    first = RedisConsumer({"key": redis_key, "group": "g"}, "c1")
    read = first.poll(10, 1.0) + first.poll(10, 1.0)  # 1 entry, then the other 5
    assert len(read) == 6
    first.close()  # killed before it acknowledged anything
    again = RedisConsumer({"key": redis_key, "group": "g"}, "c1")  # the same name restarted
    try:
        # polls without commits in between (the processor's reader thread runs one ahead)
        seen = []
        for _ in range(4):
            seen += again.poll(2, 0.1)
        assert [m.payload for m in seen] == [b'{"n": %d}' % i for i in range(6)]
        again.commit(seen)
        assert again.poll(10, 0.1) == []
    finally:
        again.close()


def test_an_unknown_or_broken_adapter_fails_that_stream_with_a_clear_message(monkeypatch):
    with pytest.raises(sources.SourceUnavailable, match="no adapter for streams of kind 'x'"):
        sources.adapter("x")
    monkeypatch.setitem(sources.ADAPTERS, "x", "apps.streams.sources.nowhere:Thing")
    with pytest.raises(sources.SourceUnavailable, match="cannot be imported"):
        sources.adapter("x")


@pytest.mark.django_db(transaction=True)
def test_a_source_that_cannot_connect_shows_its_error_and_is_retried(
    model, tenant_a, redis_key, processor
):
    _, trained = model
    stream = make_stream(
        tenant_a, trained, redis_key, config={"url": "redis://127.0.0.1:1/0", "key": redis_key}
    )
    proc = processor(stream.pk)
    wait_for(lambda: "ConnectionError" in (Stream.objects.get(pk=stream.pk).state or {}).get("error", ""),
             timeout=60)  # fmt: skip
    assert proc.workers[stream.pk].is_alive()  # still retrying, the process unharmed
