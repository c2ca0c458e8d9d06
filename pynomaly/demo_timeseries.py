"""A generated fleet of sensors with planted anomalies (fixed seed, no downloads).

Four sensors read a temperature every 10 minutes for ``points`` readings: a daily cycle,
a slow drift and noise. Three anomalies are planted, one kind per sensor, and
recorded in ``anomaly`` (1 = planted) and :func:`planted`:

* ``sensor-a``: two isolated spikes,
* ``sensor-b``: a level shift that holds for a while, then returns,
* ``sensor-c``: a noisy interval (the same level, ten times the noise),
* ``sensor-d``: nothing — a clean series the detectors should leave alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SENSORS = ("sensor-a", "sensor-b", "sensor-c", "sensor-d")
POINTS = 600  # 100 hours at 10 minutes


def planted(points: int = POINTS) -> list[dict[str, Any]]:
    """The planted anomalies: sensor, kind, first and last reading (positions)."""
    return [
        {
            "series": "sensor-a",
            "kind": "spike",
            "start": int(points * 0.30),
            "end": int(points * 0.30),
        },
        {
            "series": "sensor-a",
            "kind": "spike",
            "start": int(points * 0.72),
            "end": int(points * 0.72),
        },
        {
            "series": "sensor-b",
            "kind": "level shift",
            "start": int(points * 0.55),
            "end": int(points * 0.55) + 24,
        },
        {
            "series": "sensor-c",
            "kind": "noisy interval",
            "start": int(points * 0.40),
            "end": int(points * 0.40) + 30,
        },
    ]


def sensor_fleet(*, seed: int = 11, points: int = POINTS) -> pd.DataFrame:
    """Long format: ``timestamp, sensor, temperature, anomaly`` (``points`` rows per sensor)."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2026-11-16", periods=points, freq="10min", tz="UTC")
    hours = np.arange(points) / 6.0
    frames = []
    anomalies = {s: np.zeros(points, dtype=np.int8) for s in SENSORS}
    values = {}
    for i, sensor in enumerate(SENSORS):
        base = 20 + 2 * i
        daily = 3.0 * np.sin(2 * np.pi * (hours - 6 - i) / 24)
        values[sensor] = base + daily + 0.004 * hours + rng.normal(0, 0.3, points)
    for item in planted(points):
        s = slice(item["start"], item["end"] + 1)
        sensor = item["series"]
        if item["kind"] == "spike":
            values[sensor][s] += 6.0
        elif item["kind"] == "level shift":
            values[sensor][s] += 5.0
        else:
            values[sensor][s] += rng.normal(0, 3.0, item["end"] - item["start"] + 1)
        anomalies[sensor][s] = 1
    for sensor in SENSORS:
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": t,
                    "sensor": sensor,
                    "temperature": np.round(values[sensor], 3),
                    "anomaly": anomalies[sensor],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
