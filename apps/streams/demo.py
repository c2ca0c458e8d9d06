"""The demo workspace's stream: simulated plant sensors on the platform's own Redis.

A newcomer sees streaming after ``make run`` with no broker installed: the stream reads
the Redis key :data:`DEMO_KEY` on the embedded Redis, and the Celery beat task
``streams.simulate_demo`` (every :data:`SIMULATE_EVERY` seconds) XADDs the readings since
its last run (:func:`pynomaly.demo.sensor_readings`, ~:data:`RATE` a second, about one in
150 an incident). A beat task rather than a loop inside the processor: there is one beat,
so one producer however many processors share the stream, and the processor reads the
demo exactly as it reads a real feed. The model is the online Half-Space Trees (it needs no
training run, so seeding stays instant; its incidents go several ways, see
:mod:`pynomaly.streaming`) and a stream alert rule raises an alert when a
minute holds three anomalies or more.
"""

from __future__ import annotations

import time

import orjson
import redis
from django.conf import settings
from django.db import IntegrityError, transaction

from pynomaly.demo import SENSOR_COLUMNS, sensor_readings

from .models import Stream
from .sources.redis import produce

DEMO_STREAM = "Plant sensors (simulated)"
DEMO_KEY = "pynomaly:demo:sensors"
RATE = 10.0  # readings per second
SIMULATE_EVERY = 2.0
MAX_CATCH_UP = 30.0  # after a pause, at most this many seconds of readings at once
DEMO_MAXLEN = 100_000
_NEXT, _LAST = DEMO_KEY + ":next", DEMO_KEY + ":last"


def seed_demo_stream(*, tenant, user, stdout) -> Stream:
    """The demo stream and its alert rule (idempotent)."""
    from apps.alerts.models import AlertRule

    stream = Stream.objects.for_tenant(tenant).filter(name=DEMO_STREAM).first()
    if stream is None:
        try:
            with transaction.atomic():
                stream = Stream.objects.create(
                    tenant=tenant,
                    name=DEMO_STREAM,
                    kind=Stream.Kind.REDIS,
                    config={"key": DEMO_KEY, "group": "pynomaly", "simulated": True},
                    learner=Stream.Learner.HALF_SPACE_TREES,
                    columns=list(SENSOR_COLUMNS),
                    # HST scores only after its first window: 300 readings = 30 s of warm-up
                    learner_params={"contamination": 0.01, "window_size": 300},
                    id_field="id",
                    batch_size=1000,
                    created_by=user,
                )
        except IntegrityError:  # a concurrent seed made it
            stream = Stream.objects.for_tenant(tenant).get(name=DEMO_STREAM)
    AlertRule.objects.get_or_create(
        tenant=tenant,
        stream=stream,
        name="Sensor incidents",
        defaults={"min_anomalies": 3, "cooldown_seconds": 900, "created_by": user},
    )
    stdout.write(f"Demo stream: {stream.name} (Redis key {DEMO_KEY}, {RATE:g} readings/s)")
    return stream


def simulate(*, now: float | None = None) -> int:
    """XADD the readings due since the last call to every active simulated demo stream."""
    streams = [
        s
        for s in Stream.objects.filter(status=Stream.Status.ACTIVE, kind=Stream.Kind.REDIS)
        if (s.config or {}).get("simulated")
    ]
    if not streams:
        return 0
    now = time.time() if now is None else now
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        last = client.getset(_LAST, repr(now))
        since = float(last) if last else now - SIMULATE_EVERY
        count = int(RATE * min(max(now - since, 0.0), MAX_CATCH_UP))
        if count <= 0:
            return 0
        start = int(client.incrby(_NEXT, count)) - count  # atomic: two runs never overlap
    finally:
        client.close()
    readings = sensor_readings(start, count)
    sent = 0
    for stream in streams:
        config = {"url": (stream.config or {}).get("url") or settings.REDIS_URL, **stream.config}
        produce(config, [orjson.dumps(r) for r in readings], maxlen=DEMO_MAXLEN)
        sent += len(readings)
    return sent
