"""``make bench BENCH_ARGS=--automl-only``: automatic selection against every default detector.

Per ADBench set (``../shared/data/adbench``; sets above ``bench.automl_table.CAP`` rows
subsampled to it, seeded and stratified, as the table was built) and on average: ROC-AUC and
AP of ``auto`` with 0 %, 1 % and 5 % of the anomalies labelled (at least one; the other rows
unlabelled), of every pool detector with its defaults, and of the per-set oracle (the best
of those on that set). Scores are measured on the rows that were *not* labelled, for every
column alike. The meta-learning table is used leave-one-dataset-out: the set being scored
is removed from it first, so auto never learns from the data it is judged on.

Then the cost: ``auto`` against IForest on 1M x 10 (1 % shifted rows), fit + score in this
process, interleaved (iforest, auto, iforest, auto), medians with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from typing import Any

import numpy as np

from bench.automl_table import CAP, SEED, SHARED, datasets, frame, load

SHARES = (0.0, 0.01, 0.05)


def _metrics(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


def _labels(y: np.ndarray, share: float, seed: int) -> np.ndarray | None:
    if share == 0:
        return None
    rng = np.random.default_rng(seed)
    anomalies = np.flatnonzero(y == 1)
    take = max(1, round(share * len(anomalies)))
    labels = np.full(len(y), np.nan)
    labels[rng.choice(anomalies, size=take, replace=False)] = 1.0
    return labels


def evaluate_set(path: Any, cap: int = CAP) -> dict[str, Any]:
    """Scores of the pool detectors and of auto at each label share on one set."""
    from pynomaly import automl, detect
    from pynomaly.errors import EngineError

    X, y, n = load(path, cap)
    df = frame(X)
    raw: dict[str, np.ndarray | None] = {}
    for key in automl.POOL:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, result = detect.detect(df, detect.PipelineConfig(((key, {}),), seed=SEED))
            raw[key] = result.scores
        except EngineError:
            raw[key] = None
    table = automl.load_table().without(path.stem)
    out: dict[str, Any] = {"name": path.stem, "rows": n, "rows_used": len(y), "by_share": {}}
    for share in SHARES:
        labels = _labels(y, share, SEED)
        keep = np.ones(len(y), bool) if labels is None else ~np.isfinite(labels)
        defaults = {
            k: (_metrics(y[keep], s[keep]) if s is not None else (0.5, float(y[keep].mean())))
            for k, s in raw.items()
        }
        started = time.perf_counter()
        with automl.using_table(table), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted, result = detect.detect(
                df, detect.PipelineConfig((("auto", {}),), seed=SEED), train_labels=labels
            )
        seconds = time.perf_counter() - started
        out["by_share"][share] = {
            "defaults": defaults,
            "auto": _metrics(y[keep], result.scores[keep]),
            "chosen": (fitted.selection or {}).get("label", "?"),
            "seconds": seconds,
        }
    return out


def _cost(rows: int, repeats: int = 2) -> dict[str, Any]:
    import pandas as pd

    from pynomaly import detect

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 10))
    X[: rows // 100] += 4.0
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
    times: dict[str, list[float]] = {"iforest": [], "auto": []}
    chosen = ""
    for _ in range(repeats):
        for key in ("iforest", "auto"):
            started = time.perf_counter()
            fitted, _ = detect.detect(df, detect.PipelineConfig(((key, {}),), seed=SEED))
            times[key].append(time.perf_counter() - started)
            if key == "auto":
                chosen = (fitted.selection or {}).get("label", "")
    return {
        "rows": rows,
        "iforest": statistics.median(times["iforest"]),
        "auto": statistics.median(times["auto"]),
        "chosen": chosen,
        "load": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="auto vs the default detectors on ADBench")
    parser.add_argument("--cap", type=int, default=CAP)
    parser.add_argument("--cost-rows", type=int, default=1_000_000)
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument("--cost-only", action="store_true", help="only the 1M x 10 timing")
    parser.add_argument("--sets", nargs="*", help="only these sets (name contains)")
    args, _ = parser.parse_known_args(argv)
    from pynomaly import automl

    files = [p for p in datasets() if not args.sets or any(s in p.stem for s in args.sets)]
    if args.cost_only:
        files = []
    if not files and not args.cost_only:
        print(f"automl bench skipped: no ADBench sets in {SHARED}")
        return 0
    print(
        f"AutoML bench: {len(files)} ADBench sets, sets above {args.cap:,} rows subsampled to "
        f"{args.cap:,} (seeded, stratified); meta-learning table leave-one-dataset-out; "
        "labelled shares are of the anomalies (at least 1), metrics on the unlabelled rows.",
        flush=True,
    )
    sets = []
    for path in files:
        started = time.perf_counter()
        sets.append(evaluate_set(path, args.cap))
        r = sets[-1]["by_share"]
        print(
            f"  {path.stem:22s} auto {r[0.0]['auto'][0]:.3f} / {r[0.01]['auto'][0]:.3f} / "
            f"{r[0.05]['auto'][0]:.3f}  chose {r[0.0]['chosen']!r}, {r[0.01]['chosen']!r}, "
            f"{r[0.05]['chosen']!r} ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    status = _report(sets, automl.POOL) if sets else 0
    if not args.no_cost:
        c = _cost(args.cost_rows)
        ratio = c["auto"] / c["iforest"]
        ok = ratio <= 3.0
        print(
            f"\nCost on {c['rows']:,} x 10 (fit + score, in process, median of 2 interleaved): "
            f"IForest {c['iforest']:.1f} s, auto {c['auto']:.1f} s ({c['chosen']}) = "
            f"{ratio:.2f}x  [target <= 3x: {'met' if ok else 'MISSED'}]  load {c['load']:.1f}"
        )
        status = status or (0 if ok else 1)
    return status


def _report(sets: list[dict[str, Any]], pool: tuple[str, ...]) -> int:
    def mean(values: list[float]) -> float:
        return float(np.mean(values))

    zero = [s["by_share"][0.0] for s in sets]
    default_means = {k: mean([z["defaults"][k][0] for z in zero]) for k in pool}
    best = max(default_means, key=lambda k: default_means[k])
    print(f"\nBest single default detector by mean ROC-AUC (0 % labels): {best.upper()}")
    head = f"{'set':22s} {'rows':>7s} {best.upper():>8s} {'oracle':>7s}"
    for share in SHARES:
        head += f" {'auto ' + format(share, '.0%'):>9s}"
    print("\nROC-AUC / AP per set\n" + head + "   (each cell: ROC-AUC AP)")
    rows_auc: dict[str, list[float]] = {"best": [], "oracle": []}
    rows_ap: dict[str, list[float]] = {"best": [], "oracle": []}
    for share in SHARES:
        rows_auc[f"auto{share}"], rows_ap[f"auto{share}"] = [], []
    below = 0
    for s in sets:
        z = s["by_share"][0.0]
        b = z["defaults"][best]
        oracle = max(z["defaults"].values(), key=lambda m: m[0])
        line = (
            f"{s['name']:22s} {s['rows']:>7d} {b[0]:.3f}/{b[1]:.2f} {oracle[0]:.3f}/{oracle[1]:.2f}"
        )
        rows_auc["best"].append(b[0])
        rows_ap["best"].append(b[1])
        rows_auc["oracle"].append(oracle[0])
        rows_ap["oracle"].append(oracle[1])
        for share in SHARES:
            a = s["by_share"][share]["auto"]
            line += f" {a[0]:.3f}/{a[1]:.2f}"
            rows_auc[f"auto{share}"].append(a[0])
            rows_ap[f"auto{share}"].append(a[1])
        below += z["auto"][0] < b[0]
        print(line)
    print(
        f"{'mean':22s} {'':>7s} {mean(rows_auc['best']):.3f}/{mean(rows_ap['best']):.2f} "
        f"{mean(rows_auc['oracle']):.3f}/{mean(rows_ap['oracle']):.2f}"
        + "".join(
            f" {mean(rows_auc[f'auto{x}']):.3f}/{mean(rows_ap[f'auto{x}']):.2f}" for x in SHARES
        )
    )
    print("\nMean ROC-AUC of every default detector (0 % labels):")
    print(
        "  "
        + ", ".join(f"{k} {v:.3f}" for k, v in sorted(default_means.items(), key=lambda kv: -kv[1]))
    )
    target0 = default_means[best] + 0.01
    auto0 = mean(rows_auc["auto0.0"])
    auto1 = mean(rows_auc["auto0.01"])
    ok0 = auto0 >= target0
    ok_third = below <= len(sets) / 3
    ok1 = auto1 >= default_means[best] + 0.05
    print(
        f"\nTargets: unsupervised auto {auto0:.3f} >= {target0:.3f} (best + 0.01): "
        f"{'met' if ok0 else 'MISSED'}; below {best.upper()} on {below} of {len(sets)} sets "
        f"(<= a third): {'met' if ok_third else 'MISSED'}; with 1 % labels {auto1:.3f} >= "
        f"{default_means[best] + 0.05:.3f}: {'met' if ok1 else 'MISSED'}"
    )
    return 0 if ok0 and ok_third and ok1 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
