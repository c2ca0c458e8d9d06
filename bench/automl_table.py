"""Derive the meta-learning table of automatic selection from the shared ADBench sets.

``python -m bench.automl_table`` reads ``../shared/data/adbench/*.npz`` (beside the
checkout), and writes ``pynomaly/automl_table.json``: per dataset only *numbers derived
from it* (its meta-features, and the ROC-AUC / AP of every detector of the selection pool
run through the pipeline with its defaults, and of every pair of them combined as the
pipeline combines them) — never a data row.

Sets above ``CAP`` rows are subsampled (seeded, stratified) to ``CAP`` rows so the script
finishes in minutes; the table says so. Re-run it after changing the pool, the
preparation or the meta-features (``pynomaly/metafeatures.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "adbench"
CAP = 5_000
SEED = 42


def datasets(folder: Path = SHARED) -> list[Path]:
    """The ADBench files, in a stable order (by their leading number)."""
    return sorted(folder.glob("*.npz"), key=lambda p: int(p.name.split("_", 1)[0]))


def load(path: Path, cap: int = CAP, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, int]:
    """(X, y, original rows); above ``cap`` rows a stratified seeded subsample."""
    with np.load(path, allow_pickle=False) as data:
        X, y = np.asarray(data["X"], dtype=np.float64), np.asarray(data["y"]).astype(int)
    n = len(y)
    if n > cap:
        rng = np.random.default_rng(seed)
        keep: list[np.ndarray] = []
        for cls in (0, 1):
            where = np.flatnonzero(y == cls)
            take = max(1, round(cap * len(where) / n))
            keep.append(rng.choice(where, size=min(take, len(where)), replace=False))
        rows = np.sort(np.concatenate(keep))
        X, y = X[rows], y[rows]
    return X, y, n


def frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def prepared(X: np.ndarray) -> np.ndarray:
    """The matrix the pipeline's default preparation gives (what meta-features see)."""
    from pynomaly.prepare import PrepareOptions, Preparer

    df = frame(X)
    return Preparer().fit(df, PrepareOptions()).transform(df)


def detector_scores(X: np.ndarray, key: str) -> tuple[np.ndarray | None, float]:
    """Training scores of one pool detector run through the pipeline; None when it fails."""
    from pynomaly import detect
    from pynomaly.errors import EngineError

    config = detect.PipelineConfig(detectors=((key, {}),), seed=SEED)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, result = detect.detect(frame(X), config)
    except EngineError:
        return None, time.perf_counter() - started
    return result.scores, time.perf_counter() - started


def pair_scores(raw: dict[str, np.ndarray | None]) -> dict[str, np.ndarray]:
    """Every pair of pool detectors that ran, combined as the pipeline combines them (the
    average of their standardised scores), keyed ``"a+b"`` in pool order."""
    from pynomaly import automl

    def z(s: np.ndarray) -> np.ndarray:
        std = s.std()
        out: np.ndarray = (s - s.mean()) / (std if std > 0 else 1.0)
        return out

    out: dict[str, np.ndarray] = {}
    for a, b in automl.pairs():
        sa, sb = raw.get(a), raw.get(b)
        if sa is not None and sb is not None:
            out[automl.pair_key((a, b))] = (z(sa) + z(sb)) / 2
    return out


def metrics(y: np.ndarray, scores: np.ndarray | None) -> dict[str, float] | None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if scores is None:
        return None
    return {
        "roc_auc": round(float(roc_auc_score(y, scores)), 4),
        "ap": round(float(average_precision_score(y, scores)), 4),
    }


def main(argv: list[str] | None = None) -> int:
    from pynomaly import automl
    from pynomaly.metafeatures import NAMES, meta_features

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=automl.TABLE_PATH)
    parser.add_argument("--cap", type=int, default=CAP)
    parser.add_argument(
        "--meta-only",
        action="store_true",
        help="recompute the meta-features only, keeping the detector and pair scores",
    )
    args = parser.parse_args(argv)
    kept: dict[str, Any] = {}
    if args.meta_only:
        kept = {r["name"]: r for r in json.loads(args.out.read_text())["datasets"]}
    files = datasets()
    if not files:
        print(f"no ADBench sets in {SHARED}", file=sys.stderr)
        return 1
    rows: list[dict[str, Any]] = []
    for path in files:
        X, y, n = load(path, args.cap)
        features = meta_features(prepared(X))
        old = kept.get(path.stem)
        if old is not None:
            scores, pairs = old["scores"], old["pairs"]
        else:
            raw: dict[str, np.ndarray | None] = {}
            for key in automl.POOL:
                raw[key], seconds = detector_scores(X, key)
                got = metrics(y, raw[key])
                print(f"{path.stem:22s} {key:8s} {got} ({seconds:.1f} s)", flush=True)
            scores = {k: metrics(y, s) for k, s in raw.items()}
            pairs = {k: metrics(y, s) for k, s in pair_scores(raw).items()}
        rows.append(
            {
                "name": path.stem,
                "rows": n,
                "rows_used": len(y),
                "features": int(X.shape[1]),
                "meta": [round(features[k], 5) for k in NAMES],
                "scores": scores,
                "pairs": pairs,
            }
        )
    table = {
        "about": (
            "Derived by bench/automl_table.py from the ADBench classical sets "
            f"(sets above {args.cap:,} rows subsampled to {args.cap:,}, seed {SEED}): "
            "meta-features and ROC-AUC/AP with default parameters of every pool detector and "
            "of every pair of them (the average of their standardised scores). "
            "No data rows."
        ),
        "meta_features": list(NAMES),
        "pool": list(automl.POOL),
        "cap": args.cap,
        "datasets": rows,
    }
    args.out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(rows)} datasets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
