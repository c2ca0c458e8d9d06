"""The demo workspace's simulated sensor stream produces anomalies with no broker installed."""

from __future__ import annotations

import io

import pytest
import redis
from django.conf import settings

from apps.streams import demo
from apps.streams.models import Stream, StreamAnomaly

from .conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_keys():
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(demo.DEMO_KEY, demo._NEXT, demo._LAST)
    yield
    client.delete(demo.DEMO_KEY, demo._NEXT, demo._LAST)
    client.close()


def test_the_demo_stream_produces_anomalies(tenant_a, alice, demo_keys, processor):
    out = io.StringIO()
    stream = demo.seed_demo_stream(tenant=tenant_a, user=alice, stdout=out)
    assert demo.seed_demo_stream(tenant=tenant_a, user=alice, stdout=out).pk == stream.pk
    assert stream.alert_rules.filter(name="Sensor incidents").exists()
    # a first run of the beat task (one interval of readings), then ten 30 s catch-ups
    t = 1_800_000_000.0
    sent = sum(demo.simulate(now=t + 30 * k) for k in range(11))
    assert sent == demo.RATE * (demo.SIMULATE_EVERY + 10 * 30)
    processor(stream.pk)
    wait_for(lambda: Stream.objects.get(pk=stream.pk).records_total == sent, timeout=180)
    flagged = StreamAnomaly.objects.filter(stream=stream)
    assert 0 < flagged.count() < sent * 0.1
    # the incidents the simulator planted are among the anomalies
    planted = {f"r{n}" for n in range(int(sent)) if (n * 2654435761) % 4294967296 % 150 < 3}
    assert planted
    assert planted & set(flagged.values_list("event_id", flat=True))
