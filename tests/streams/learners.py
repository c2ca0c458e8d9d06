"""Measure river's online learners on the labelled demo data (the table in pynomaly.streaming).

Not a test (nothing asserts): ``PYTHONPATH=. python tests/streams/learners.py``. Each learner
scores a record, then learns it, in stream order; ROC-AUC against the labels, wall-clock
records/s.
"""

from __future__ import annotations

import time

import numpy as np
from river import anomaly, compose, preprocessing
from sklearn.metrics import roc_auc_score

from pynomaly import demo

LEARNERS = {
    "hst h15 w250 t25": lambda: compose.Pipeline(
        preprocessing.MinMaxScaler(),
        anomaly.HalfSpaceTrees(n_trees=25, height=15, window_size=250, seed=42),
    ),
    "hst h8 w1000 t25": lambda: compose.Pipeline(
        preprocessing.MinMaxScaler(),
        anomaly.HalfSpaceTrees(n_trees=25, height=8, window_size=1000, seed=42),
    ),
    "hst h8 w100 t10": lambda: compose.Pipeline(
        preprocessing.MinMaxScaler(),
        anomaly.HalfSpaceTrees(n_trees=10, height=8, window_size=100, seed=42),
    ),
    "ocsvm nu0.1": lambda: compose.Pipeline(
        preprocessing.StandardScaler(), anomaly.OneClassSVM(nu=0.1)
    ),
    "ocsvm nu0.2": lambda: compose.Pipeline(
        preprocessing.StandardScaler(), anomaly.OneClassSVM(nu=0.2)
    ),
}


def blobs(rows: int = 10_000, seed: int = 0):
    """Gaussian records with 1 % outliers 6 sd away in a random direction (both signs)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4))
    outlier = rng.random(rows) < 0.01
    direction = rng.normal(size=(rows, 4))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    X[outlier] += 6 * direction[outlier]
    df = pd.DataFrame(X, columns=list("abcd"))
    df["outlier"] = outlier.astype(int)
    return df


def main() -> None:
    payments = demo.payments()
    label = next(c for c in payments.columns if c in ("is_fraud", "label", "outlier", "fraud"))
    for name, df, column in (
        ("server_metrics", demo.server_metrics(), "incident"),
        ("payments", payments, label),
        ("blobs", blobs(), "outlier"),
    ):
        X = df.select_dtypes("number").drop(columns=[column]).to_dict("records")[:10_000]
        y = df[column].to_numpy()[: len(X)]
        for learner, make in LEARNERS.items():
            model, scores = make(), np.empty(len(X))
            start = time.perf_counter()
            for i, x in enumerate(X):
                scores[i] = model.score_one(x)
                model.learn_one(x)
            rate = len(X) / (time.perf_counter() - start)
            auc = roc_auc_score(y, scores)
            print(f"{name:15} {learner:18} auc={auc:.3f} records/s={rate:,.0f}", flush=True)


if __name__ == "__main__":
    main()
