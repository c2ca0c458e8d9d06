"""Fixtures for the stream tests: a trained model, a Redis key of our own, a processor."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import numpy as np
import orjson
import pandas as pd
import pytest
import redis
from django.conf import settings

from apps.detectors import scoring
from apps.streams.models import Stream
from apps.streams.processor import Processor
from tests.web.detectors.test_scoring import register, train


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def fresh_cache():
    scoring.cache.clear()
    yield
    scoring.cache.clear()


def sensor_frame(rows: int = 2000, seed: int = 0, anomalies: int = 40) -> pd.DataFrame:
    """Numeric readings with a few far-away rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4)) * [1.0, 2.0, 0.5, 3.0] + [10, 50, 0, -5]
    X[:anomalies] += 9
    return pd.DataFrame(X, columns=["temp", "pressure", "vibration", "flow"])


@pytest.fixture
def redis_key(settings):
    """A Redis stream key of this test's own, deleted afterwards."""
    key = f"pynomaly:test:{uuid.uuid4().hex}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield key
    client.delete(key)
    client.close()


@pytest.fixture
def model(transactional_db, tenant_a, alice, media):
    fitted = train("iforest", {"n_estimators": 50}, sensor_frame())
    return fitted, register(tenant_a, alice, fitted, media, name="sensors")


def make_stream(tenant, model, key: str, **fields) -> Stream:
    return Stream.objects.create(
        tenant=tenant,
        name=fields.pop("name", f"sensors-{uuid.uuid4().hex[:6]}"),
        kind=fields.pop("kind", Stream.Kind.REDIS),
        config=fields.pop("config", {"url": settings.REDIS_URL, "key": key, "group": "g"}),
        learner=fields.pop("learner", Stream.Learner.MODEL),
        model=model,
        id_field=fields.pop("id_field", "id"),
        batch_size=fields.pop("batch_size", 500),
        **fields,
    )


def payloads(frame: pd.DataFrame, *, start_id: int = 0) -> list[bytes]:
    out = []
    for i, row in enumerate(frame.to_dict("records")):
        out.append(orjson.dumps({"id": f"e{start_id + i}", **row}))
    return out


def wait_for(condition: Callable[[], bool], timeout: float = 120.0, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the processor")
        time.sleep(step)


@pytest.fixture
def processor():
    """Start a Processor for given stream ids in a thread; stopped and joined afterwards."""
    started: list[tuple[Processor, threading.Thread]] = []

    def start(*stream_ids: int, name: str | None = None) -> Processor:
        proc = Processor(
            name=name or f"test:{uuid.uuid4().hex[:6]}", refresh=0.5, streams=stream_ids
        )
        thread = threading.Thread(target=proc.run, daemon=True)
        thread.start()
        started.append((proc, thread))
        return proc

    yield start
    for proc, thread in started:
        proc.stop()
        thread.join(timeout=60)
