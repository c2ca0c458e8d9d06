"""Demo datasets the platform generates itself (fixed seeds, no downloads).

``server_metrics`` is a week of per-minute metrics from one service with injected
incidents; ``payments`` is a labelled tabular set with three kinds of outliers. Both
show the product well: a time series with visible spikes, and a table where the
evaluation metrics have something to measure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def server_metrics(*, seed: int = 7, minutes: int = 7 * 24 * 60) -> pd.DataFrame:
    """Per-minute CPU, memory, latency, error rate and request rate, with incidents.

    Incidents (``incident`` = 1): CPU saturation bursts, latency spikes with errors,
    a slow memory leak ending in a restart, and traffic drops.
    """
    rng = np.random.default_rng(seed)
    t = pd.date_range("2026-11-02", periods=minutes, freq="min", tz="UTC")
    minute_of_day = np.asarray(t.hour * 60 + t.minute)
    daily = np.sin((minute_of_day - 6 * 60) / 1440 * 2 * np.pi)  # peak mid-afternoon
    weekend = np.asarray(t.day_of_week >= 5)

    requests = 800 + 500 * daily - 250 * weekend + rng.normal(0, 40, minutes)
    cpu = 20 + requests / 25 + rng.normal(0, 3, minutes)
    memory = 45 + rng.normal(0, 1.5, minutes)
    latency = 80 + requests / 20 + rng.gamma(2.0, 5.0, minutes)
    errors = np.clip(rng.normal(0.2, 0.08, minutes), 0, None)
    incident = np.zeros(minutes, dtype=np.int8)

    def mark(start: int, length: int) -> slice:
        s = slice(start, min(start + length, minutes))
        incident[s] = 1
        return s

    for start in rng.choice(np.arange(500, minutes - 100), size=6, replace=False):
        s = mark(int(start), int(rng.integers(5, 20)))
        kind = rng.integers(0, 3)
        if kind == 0:  # CPU saturation
            cpu[s] = rng.normal(97, 1.5, s.stop - s.start)
            latency[s] *= 2.5
        elif kind == 1:  # latency spike with errors
            latency[s] += rng.normal(900, 150, s.stop - s.start)
            errors[s] += rng.normal(6, 1.5, s.stop - s.start)
        else:  # traffic drop (upstream outage)
            requests[s] *= 0.1
            cpu[s] = 8 + rng.normal(0, 1, s.stop - s.start)
    # A memory leak over ~6 hours, then a restart.
    leak_start = int(minutes * 0.62)
    mark(leak_start + 240, 120)
    memory[leak_start : leak_start + 360] += np.linspace(0, 48, 360)

    return pd.DataFrame(
        {
            "timestamp": t,
            "requests_per_min": np.round(np.clip(requests, 0, None), 1),
            "cpu_pct": np.round(np.clip(cpu, 0, 100), 2),
            "memory_pct": np.round(np.clip(memory, 0, 100), 2),
            "p95_latency_ms": np.round(latency, 1),
            "error_pct": np.round(errors, 3),
            "incident": incident,
        }
    )


def payments(*, seed: int = 11, rows: int = 5000) -> pd.DataFrame:
    """Card payments with a label: ~4 % fraud of three kinds.

    Kinds: very large amounts at odd hours, many small payments from a new device far from
    home, and mismatched merchant category for the amount.
    """
    rng = np.random.default_rng(seed)
    categories = np.array(["grocery", "fuel", "travel", "electronics", "restaurant", "online"])
    cat_p = np.array([0.3, 0.15, 0.05, 0.1, 0.2, 0.2])
    category = rng.choice(categories, size=rows, p=cat_p)
    base = {
        "grocery": 45,
        "fuel": 60,
        "travel": 400,
        "electronics": 250,
        "restaurant": 35,
        "online": 70,
    }
    amount = np.array([rng.lognormal(np.log(base[c]), 0.5) for c in category])
    hour = np.clip(rng.normal(14, 4, rows), 0, 23).round().astype(int)
    distance_km = rng.gamma(1.5, 4.0, rows)
    device_age_days = rng.gamma(2.0, 200.0, rows)
    payments_last_hour = rng.poisson(0.6, rows)
    label = np.zeros(rows, dtype=np.int8)

    n_fraud = int(rows * 0.04)
    idx = rng.choice(rows, size=n_fraud, replace=False)
    for k, i in enumerate(idx):
        label[i] = 1
        kind = k % 3
        if kind == 0:
            amount[i] = rng.uniform(2500, 9000)
            hour[i] = int(rng.integers(1, 5))
        elif kind == 1:
            payments_last_hour[i] = int(rng.integers(8, 25))
            device_age_days[i] = rng.uniform(0, 2)
            distance_km[i] = rng.uniform(300, 3000)
        else:
            category[i] = "grocery"
            amount[i] = rng.uniform(1500, 4000)
    return pd.DataFrame(
        {
            "amount": np.round(amount, 2),
            "merchant_category": category,
            "hour": hour,
            "distance_from_home_km": np.round(distance_km, 1),
            "device_age_days": np.round(device_age_days, 1),
            "payments_last_hour": payments_last_hour,
            "is_fraud": label,
        }
    )


SENSOR_COLUMNS = ("temperature", "pressure", "vibration", "flow")


def sensor_readings(start: int, count: int, *, seed: int = 3) -> list[dict[str, object]]:
    """Readings ``start`` … ``start + count - 1`` of a simulated plant sensor feed.

    Deterministic per index (the demo stream's simulator asks for the next indices each
    time it runs): a daily-ish wave with noise, and about one reading in 150 an anomaly —
    a temperature spike, a pressure drop or a vibration burst with a flow stall.
    """
    n = np.arange(start, start + count)
    rng = np.random.default_rng([seed, start, count])
    wave = np.sin(n / 900.0)
    temperature = 21.0 + 2.0 * wave + rng.normal(0, 0.4, count)
    pressure = 101.3 + 0.3 * wave + rng.normal(0, 0.15, count)
    vibration = np.abs(0.25 + rng.normal(0, 0.05, count))
    flow = 12.0 + 0.8 * wave + rng.normal(0, 0.3, count)
    kind = (n * 2654435761) % 4294967296 % 150  # which readings are incidents, by index
    temperature = np.where(kind == 0, temperature + 9.0, temperature)
    pressure = np.where(kind == 1, pressure - 3.0, pressure)
    burst = kind == 2
    vibration = np.where(burst, vibration + 1.8, vibration)
    flow = np.where(burst, flow * 0.3, flow)
    return [
        {
            "id": f"r{int(i)}",
            "temperature": round(float(t), 3),
            "pressure": round(float(p), 3),
            "vibration": round(float(v), 4),
            "flow": round(float(f), 3),
        }
        for i, t, p, v, f in zip(n, temperature, pressure, vibration, flow, strict=True)
    ]
