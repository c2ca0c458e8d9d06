"""``python -m bench --deep-only``: training and scoring time of each deep detector.

On 10k x 20 standard-normal rows with 1 % shifted anomalies (``--quick``: 2k x 20), per
detector with a fixed short training (``EPOCHS`` below, so the figures compare), raw PyOD
(``fit`` then ``decision_function`` on a numpy array) against the platform pipeline
(``pynomaly.detect.detect``: preparation, the epoch hook, seeded scoring, threshold),
interleaved raw, ours, raw, ours (PITFALLS: a shared machine gets quieter or busier over
time), medians, with the load average. Then GPU against CPU for each detector where torch
sees a CUDA GPU; otherwise it says so.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np

# Epoch settings per detector for the bench (the defaults train 10 to 500 epochs).
EPOCHS: dict[str, dict[str, Any]] = {
    "autoencoder": {"epoch_num": 2},
    "vae": {"epoch_num": 2},
    "deepsvdd": {"epochs": 2},
    "so_gaal": {"stop_epochs": 1},
    "mo_gaal": {"stop_epochs": 1, "k": 3},
    "lunar": {"n_epochs": 20},
    "dif": {"n_ensemble": 10},
    "anogan": {"epochs": 2, "epochs_query": 2},
    "alad": {"epochs": 50},
    "ae1svm": {"epochs": 2},
}


def _data(rows: int, cols: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(rows, cols))
    y = np.zeros(rows, dtype=int)
    y[: rows // 100] = 1
    X[y == 1] += 4.0
    return X, y


def _raw(key: str, X: np.ndarray, device: str) -> tuple[float, float]:
    from pynomaly import catalogue, deep

    spec = catalogue.get_detector(key)
    est = catalogue.build_detector(
        key, spec.validate_params(EPOCHS[key]), seed=42, n_features=X.shape[1]
    )
    deep.place(est, device)
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        est.fit(X)
        t1 = time.perf_counter()
        est.decision_function(X)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def _ours(key: str, X: np.ndarray, device: str) -> tuple[float, float]:
    import pandas as pd

    from pynomaly import catalogue, deep
    from pynomaly.detect import PipelineConfig, fit

    spec = catalogue.get_detector(key)
    config = PipelineConfig(detectors=((key, spec.validate_params(EPOCHS[key])),))
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        fitted = fit(df, config, training=deep.Training(device=device))
        t1 = time.perf_counter()
        fitted.score(df)
        t2 = time.perf_counter()
    # fit() also scores the training rows (for the threshold): report training alone
    return t1 - t0 - (t2 - t1), t2 - t1


def main(quick: bool = False, repeats: int = 2) -> int:
    import torch

    warnings.filterwarnings("ignore")
    rows = 2_000 if quick else 10_000
    X, _ = _data(rows)
    print(f"deep detectors on {rows:,} x 20, CPU, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; medians of {repeats}, raw and ours interleaved")  # fmt: skip
    header = f"{'detector':12} {'settings':26} {'raw fit':>9} {'ours fit':>9} {'raw score':>10} {'ours score':>10}  load"
    print(header)
    for key in EPOCHS:
        raw, ours = [], []
        for _ in range(repeats):
            raw.append(_raw(key, X, "cpu"))
            ours.append(_ours(key, X, "cpu"))
        rf, rs = (statistics.median(v) for v in zip(*raw, strict=True))
        of, os_ = (statistics.median(v) for v in zip(*ours, strict=True))
        settings = ",".join(f"{k}={v}" for k, v in EPOCHS[key].items())
        load = os.getloadavg()[0]
        print(
            f"{key:12} {settings:26} {rf:8.2f}s {of:8.2f}s {rs:9.2f}s {os_:9.2f}s  {load:.1f}",
            flush=True,
        )
    if torch.cuda.is_available():
        print("\nGPU against CPU (platform pipeline, fit + score):")
        for key in EPOCHS:
            cpu = sum(_ours(key, X, "cpu"))
            gpu = sum(_ours(key, X, "cuda:0"))
            print(f"{key:12} cpu {cpu:8.2f}s  cuda {gpu:8.2f}s  ({cpu / gpu:.1f}x)", flush=True)
    else:
        print("\nno CUDA GPU here: GPU against CPU not measured")
    return 0


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    sys.exit(main(quick="--quick" in sys.argv))
