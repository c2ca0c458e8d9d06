"""Faults with real processes: a processor killed before it commits, SIGKILL mid-stream, two
processors sharing one stream. Every event is scored and stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from django.conf import settings

from apps.streams import store
from apps.streams.models import Stream, StreamAnomaly
from apps.streams.processor import build_engine
from apps.streams.sources.redis import RedisConsumer, produce
from tests.conftest import _test_database_url

from .conftest import make_stream, payloads, sensor_frame, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def expected_anomalies(fitted, frame) -> set[str]:
    return {f"e{i}" for i in np.flatnonzero(fitted.score(frame).labels)}


def stored_ids(stream: Stream) -> list[str]:
    return list(StreamAnomaly.objects.filter(stream=stream).values_list("event_id", flat=True))


def pending(key: str, group: str = "g") -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return int(client.xpending(key, group)["pending"])
    finally:
        client.close()


def test_a_redelivered_batch_never_makes_a_second_anomaly_row(
    model, tenant_a, redis_key, processor, settings
):
    settings.STREAMS_CLAIM_IDLE_SECONDS = 0.5
    fitted, trained = model
    frame = sensor_frame(rows=3000, seed=21, anomalies=50)
    stream = make_stream(tenant_a, trained, redis_key)
    produce({"key": redis_key}, payloads(frame))
    # A processor reads a batch, stores it, and dies before it acknowledges it.
    victim = RedisConsumer(stream.config, "victim:1")
    messages = victim.poll(1000, 1.0)
    while len(messages) < 1000:
        messages += victim.poll(1000 - len(messages), 1.0)
    engine = build_engine(stream)
    outcome = engine.process(
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
    assert pending(redis_key) == 1000

    processor(stream.pk)  # takes the victim's pending entries over, and the rest
    wait_for(
        lambda: pending(redis_key) == 0 and Stream.objects.get(pk=stream.pk).records_total >= 4000
    )
    ids = stored_ids(stream)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_anomalies(fitted, frame)
    stream.refresh_from_db()
    assert stream.anomalies_total == len(ids)  # the redelivered anomalies were not counted twice


def _start(stream: Stream, name: str, log: Path, *, claim_idle: float = 1.0) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "STREAMS_CLAIM_IDLE_SECONDS": str(claim_idle),
        "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
    }
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_streams", "--stream", str(stream.pk),
             "--refresh", "0.5", "--name", name],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_processor_killed_mid_stream_resumes_and_scores_every_event_once(
    model, tenant_a, redis_key, tmp_path
):
    fitted, trained = model
    frame = sensor_frame(rows=30_000, seed=33, anomalies=300)
    stream = make_stream(tenant_a, trained, redis_key, batch_size=500)
    produce({"key": redis_key}, payloads(frame))
    log = tmp_path / "streams.log"
    first = _start(stream, "host:1", log)
    try:
        wait_for(lambda: Stream.objects.get(pk=stream.pk).records_total >= 3000, timeout=180)
        first.send_signal(signal.SIGKILL)  # no chance to finish its batch or commit
        first.wait(timeout=30)
        assert Stream.objects.get(pk=stream.pk).records_total < len(frame)
        # supervisord starts it again: a new process, a new consumer name
        second = _start(stream, "host:2", log)
        try:
            wait_for(
                lambda: (
                    pending(redis_key) == 0
                    and Stream.objects.get(pk=stream.pk).records_total >= len(frame)
                ),
                timeout=300,
            )
        finally:
            _stop(second)
    finally:
        _stop(first)
    ids = stored_ids(stream)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_anomalies(fitted, frame), log.read_text()[-3000:]


def test_two_processors_share_one_stream(model, tenant_a, redis_key, tmp_path):
    fitted, trained = model
    frame = sensor_frame(rows=30_000, seed=44, anomalies=300)
    stream = make_stream(tenant_a, trained, redis_key, batch_size=250)
    log = tmp_path / "streams.log"
    # Nobody dies here: no entry is taken over from a live processor, none is stored twice.
    procs = [_start(stream, name, log, claim_idle=120) for name in ("host:a", "host:b")]
    try:
        # both have joined the group before the records arrive
        client = redis.Redis.from_url(settings.REDIS_URL)
        wait_for(lambda: client.exists(redis_key) and len(client.xinfo_consumers(redis_key, "g")) == 2,
                 timeout=180)  # fmt: skip
        produce({"key": redis_key}, payloads(frame))
        busy: set[str] = set()

        def done() -> bool:
            state = Stream.objects.get(pk=stream.pk).state or {}
            busy.update(n for n, v in (state.get("processors") or {}).items()
                        if v.get("records_per_second"))  # fmt: skip
            return Stream.objects.get(pk=stream.pk).records_total >= len(frame)

        wait_for(done, timeout=300, step=0.1)
        delivered = {c["name"].decode(): c for c in client.xinfo_consumers(redis_key, "g")}
        client.close()
    finally:
        for proc in procs:
            _stop(proc)
    assert set(delivered) == {"host:a", "host:b"}
    assert busy == {"host:a", "host:b"}, log.read_text()[-3000:]
    ids = stored_ids(stream)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_anomalies(fitted, frame)
    assert Stream.objects.get(pk=stream.pk).records_total == len(frame)
