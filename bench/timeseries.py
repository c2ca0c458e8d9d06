"""Detection rate and time of every time-series detector on the demo sensor fleet.

    PYTHONPATH=. python -m bench.timeseries [KEY ...]

The fleet is ``pynomaly.demo_timeseries.sensor_fleet()`` (4 sensors x 600 points, 4 planted
anomalies); the windows and parameters are those of ``tests/engine/test_timeseries.py``, whose
module note holds the figures measured on this machine. A planted anomaly is hit when an
interval of its sensor overlaps it; "false" counts intervals touching no planted point.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from pynomaly import demo_timeseries, timeseries
from pynomaly.scores import Threshold

CASES = {
    "windowfeatures": (6, {}),
    "spectralresidual": (None, {}),
    "timeseriesod": (12, {}),
    "matrixprofile": (72, {}),
    "lstmad": (12, {"epochs": 2}),
    "anomalytransformer": (24, {"epochs": 2}),
    "sand": (48, {}),
    "kshape": (48, {}),
}


def main(keys: list[str]) -> None:
    df = demo_timeseries.sensor_fleet()
    sensors, truth = df["sensor"].to_numpy(), df["anomaly"].to_numpy()
    print(f"{'detector':20s} window  hit  intervals  false  ROC-AUC  wall s  CPU s")
    for key in keys or list(CASES):
        window, params = CASES[key]
        options = timeseries.SeriesOptions("timestamp", ("temperature",), "sensor", window)
        wall, cpu = time.perf_counter(), time.process_time()
        result = timeseries.detect(
            df, options, key=key, params=params, threshold=Threshold("contamination", 0.03)
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        found = result.intervals()
        hit = 0
        for plant in demo_timeseries.planted():
            rows = np.flatnonzero(sensors == plant["series"])[plant["start"] : plant["end"] + 1]
            hit += any(
                i["series"] == plant["series"]
                and i["start_row"] <= rows[-1]
                and i["end_row"] >= rows[0]
                for i in found
            )
        false = sum(1 for i in found if not _touches(i, sensors, truth))
        auc = roc_auc_score(truth, result.scores)
        print(
            f"{key:20s} {window or '-':>6}  {hit}/4  {len(found):9d}  {false:5d}  {auc:7.3f}"
            f"  {wall:6.2f}  {cpu:5.2f}",
            flush=True,
        )


def _touches(interval: dict, sensors: np.ndarray, truth: np.ndarray) -> bool:
    """Whether the interval covers a planted point of its own sensor."""
    rows = np.flatnonzero(sensors == interval["series"])
    start, end = interval["start_row"], interval["end_row"]
    inside = rows[(rows >= start) & (rows <= end)]
    return bool(truth[inside].any())


if __name__ == "__main__":
    main(sys.argv[1:])
