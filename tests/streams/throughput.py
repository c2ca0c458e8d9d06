"""Throughput through Redis (not part of the suite: run it by name, with -s to see figures).

``python -m pynomaly_web.embedded_redis python -m pytest -q -s tests/streams/throughput.py``
"""

import time

import pytest

from apps.streams.models import Stream
from apps.streams.sources.redis import produce
from tests.web.detectors.test_scoring import register, train

from .conftest import make_stream, payloads, sensor_frame, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("batch,pack", [(5000, 1), (5000, 100), (20000, 100)])
def test_tp(tenant_a, alice, media, redis_key, processor, batch, pack):
    fitted = train("iforest", {}, sensor_frame())
    trained = register(tenant_a, alice, fitted, media, name=f"tp{batch}")
    N = 300_000
    frame = sensor_frame(rows=N, seed=3)
    t = time.perf_counter()
    produce({"key": redis_key}, payloads(frame), maxlen=0, pack=pack)
    print(f"\nproduce: {N / (time.perf_counter() - t):,.0f} records/s")
    stream = make_stream(tenant_a, trained, redis_key, batch_size=batch)
    proc = processor(stream.pk)

    def n():
        return Stream.objects.filter(pk=stream.pk).values_list("records_total", flat=True)[0]

    wait_for(lambda: n() > 0, step=0.01)
    t0, n0 = time.perf_counter(), n()
    wait_for(lambda: n() == N, timeout=600, step=0.05)
    dt = time.perf_counter() - t0
    w = proc.workers[stream.pk]
    print({k: round(v, 2) for k, v in w.timings.items()}, "dt", round(dt, 2))
    print(
        f"batch {batch} pack {pack}: through Redis {(N - n0) / dt:,.0f} records/s (anomalies {Stream.objects.get(pk=stream.pk).anomalies_total})"
    )
