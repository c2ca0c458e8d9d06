"""The script a data scientist would write by hand: pandas + PyOD, nothing else.

Run as ``python -m bench.raw JOB ...`` in a fresh process, so that its time and peak
memory can be set against ``pynomaly detect`` doing the same work.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd


def _detector(name: str, seed: int):
    if name == "iforest":
        from pyod.models.iforest import IForest

        return IForest(random_state=seed)
    if name == "ecod":
        from pyod.models.ecod import ECOD

        return ECOD()
    if name == "hbos":
        from pyod.models.hbos import HBOS

        return HBOS()
    raise SystemExit(f"unknown detector {name}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("detector")
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--fit-rows", type=int)
    p.add_argument("--label-column")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()

    if args.data.endswith(".parquet"):
        df = pd.read_parquet(args.data)
    else:
        df = pd.read_csv(args.data)
    y = df.pop(args.label_column).to_numpy() if args.label_column else None
    X = df.to_numpy(dtype=np.float64)
    fit_X = X
    if args.fit_rows and args.fit_rows < len(X):
        rng = np.random.default_rng(args.seed)
        fit_X = X[np.sort(rng.choice(len(X), args.fit_rows, replace=False))]
    clf = _detector(args.detector, args.seed).fit(fit_X)
    scores = clf.decision_function(X)
    out = pd.DataFrame({"score": scores})
    if args.out.endswith(".parquet"):
        out.to_parquet(args.out, index=False)
    else:
        out.to_csv(args.out, index=False)
    if y is not None:
        from sklearn.metrics import roc_auc_score

        print(f"roc_auc={roc_auc_score(y, scores):.4f}")


if __name__ == "__main__":
    main()
