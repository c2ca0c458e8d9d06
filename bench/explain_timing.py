"""Time to explain 100 flagged rows on 10k x 10 (IForest, KNN, ECOD): `python -m bench.explain_timing`."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from pynomaly import detect
from pynomaly import explain as E
from pynomaly.scores import Threshold


def main() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, 10))
    X[:100, :] += 6 * (np.arange(10) == (np.arange(100)[:, None] % 10))
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(10)])
    print(f"load average {os.getloadavg()[0]:.2f}")
    for key in ("iforest", "knn", "ecod"):
        config = detect.PipelineConfig(detectors=((key, {}),), threshold=Threshold("top_k", 100))
        fitted, result = detect.detect(df, config)
        E.explain_result(
            fitted, df.iloc[:200], result.scores[:200], result.labels[:200], max_rows=2
        )
        started, cpu = time.perf_counter(), time.process_time()
        ex = E.explain_result(
            fitted, df, result.scores, result.labels, contributions=result.contributions,
            max_rows=100,
        )  # fmt: skip
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        planted = ex.row_ids < 100  # rows 0-99 have feature (row % 10) pushed 6 sd out
        top = np.argmax(ex.values[planted], axis=1)
        hit = np.mean(top == ex.row_ids[planted] % 10) if planted.any() else float("nan")
        print(
            f"{key:8s} {ex.method:14s} rows={len(ex)} {seconds:6.2f} s ({cpu:.2f} CPU s)  "
            f"planted rows among them: {planted.sum()}, planted feature on top: {hit:.0%}"
        )


if __name__ == "__main__":
    main()
