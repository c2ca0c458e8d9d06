"""Engine throughput from memory (the ceiling beside tests/streams/throughput.py); a script.

``PYTHONPATH=. DJANGO_SETTINGS_MODULE=pynomaly_web.settings python tests/streams/engine_throughput.py``
"""

from __future__ import annotations

import time


def main() -> None:
    import django

    django.setup()  # the tests package (training helpers) needs settings
    import orjson

    from pynomaly.streaming import ModelScorer, StreamEngine
    from tests.streams.conftest import sensor_frame
    from tests.web.detectors.test_scoring import train

    fitted = train("iforest", {}, sensor_frame())
    engine = StreamEngine(ModelScorer(fitted.scorer()), id_field="id")
    frame = sensor_frame(rows=200_000, seed=3)
    payloads = [orjson.dumps({"id": f"e{i}", **r}) for i, r in enumerate(frame.to_dict("records"))]
    coords = [f"{i}-0" for i in range(len(payloads))]
    received = [time.time()] * len(payloads)
    size = 5000
    for _ in range(2):  # the second pass is warm
        start, n = time.perf_counter(), 0
        for s in range(0, len(payloads), size):
            n += engine.process(
                payloads[s : s + size], coords[s : s + size], received[s : s + size]
            ).records
        print(f"engine from memory: {n / (time.perf_counter() - start):,.0f} records/s")


if __name__ == "__main__":
    main()
