"""``python -m bench --edge-only``: the edge scorer (``pynomaly-edge``) beside the platform's scoring.

One isolation forest trained on 10k x 10 rows, exported to ONNX (``pynomaly.onnx_export``) and
saved in the platform's format. Then, on the same CSV of 200k rows (``--quick``: 20k), whole
commands as a user runs them, interleaved (platform, edge, platform, edge …, PITFALLS: a
shared machine gets busier or quieter over time), with the load average beside each pair:

* ``pynomaly score MODEL.skops DATA.csv`` — the platform's engine (pandas, PyOD, scikit-learn);
* ``pynomaly-edge MODEL.onnx DATA.csv`` — onnxruntime + numpy only.

Printed: records/s (median over the runs, process start included, as on a device), peak RSS
of each process (``ru_maxrss``, read by a small wrapper process), the ratio edge/platform, and the install size of
each: the files of the distributions they need (``importlib.metadata``, requirements followed
recursively, extras not taken).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

RUNS = 3


def _install_size(root: str) -> tuple[int, int]:
    """Bytes and distributions count of ``root`` and everything it requires (no extras)."""
    seen: set[str] = set()
    pending = [root]
    total = 0
    while pending:
        name = re.split(r"[\s;<>=!~\[(]", pending.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if not name or name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for f in dist.files or ():
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                total += path.stat().st_size
        for req in dist.requires or ():
            if "extra ==" not in req:
                pending.append(req)
    return total, len(seen)


# A small process starts the command and reports its peak RSS: a child forked from this bench
# (hundreds of MB of pandas and data) would count the parent's pages in its ru_maxrss.
_WRAP = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _run(argv: list[str], out: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one command, its stdout to ``out``."""
    with open(out, "wb") as fh:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _WRAP, *argv], stdout=fh, stderr=subprocess.PIPE, check=False
        )
        seconds = time.perf_counter() - t0
    err = proc.stderr.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not err:
        raise SystemExit(f"bench edge: {' '.join(argv[:3])}… failed: {' '.join(err)[-500:]}")
    return seconds, int(err[-1]) * 1024


def main(*, quick: bool = False) -> int:
    import pandas as pd

    from pynomaly.detect import fit
    from pynomaly.onnx_export import export_onnx
    from pynomaly.persist import save
    from pynomaly.pipeline import PipelineConfig

    rows = 20_000 if quick else 200_000
    rng = np.random.default_rng(3)
    cols = [f"x{i}" for i in range(10)]
    train = pd.DataFrame(rng.normal(size=(10_000, 10)), columns=cols)
    data = pd.DataFrame(rng.normal(size=(rows, 10)), columns=cols)
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        work = Path(tmp)
        fitted = fit(train, PipelineConfig(detectors=(("iforest", {}),)).validated())
        save(fitted, work / "model.skops")
        (work / "model.onnx").write_bytes(export_onnx(fitted))
        data.to_csv(work / "data.csv", index=False)
        platform = [sys.executable, "-m", "pynomaly", "score", str(work / "model.skops")]
        platform += [str(work / "data.csv"), "-o", str(work / "platform.csv"), "-q"]
        edge = [sys.executable, "-m", "pynomaly_edge.cli", str(work / "model.onnx")]
        edge += [str(work / "data.csv")]
        print(
            f"\nedge scorer vs the platform: IForest, {rows:,} x 10 CSV, {RUNS} interleaved pairs"
        )
        times: dict[str, list[float]] = {"platform": [], "edge": []}
        rss: dict[str, int] = {"platform": 0, "edge": 0}
        for i in range(RUNS):
            load = os.getloadavg()[0]
            for name, argv in (("platform", platform), ("edge", edge)):
                seconds, peak = _run(argv, work / f"{name}.out")
                times[name].append(seconds)
                rss[name] = max(rss[name], peak)
            print(
                f"  pair {i + 1}: platform {times['platform'][-1]:6.2f} s   "
                f"edge {times['edge'][-1]:6.2f} s   load {load:.2f}"
            )
        lines = (work / "edge.out").read_text().splitlines()
        if len(lines) != rows:
            raise SystemExit(f"bench edge: the edge scored {len(lines)} of {rows} rows")
    sizes = {"platform": _install_size("pynomaly"), "edge": _install_size("pynomaly-edge")}
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"  {'':10} {'records/s':>12} {'peak RSS':>10} {'install':>10} {'dists':>6}")
    for name in ("platform", "edge"):
        size, count = sizes[name]
        print(
            f"  {name:10} {rows / med[name]:12,.0f} {rss[name] / 2**20:8.0f} MB "
            f"{size / 2**20:8.0f} MB {count:6d}"
        )
    print(
        f"  edge / platform: speed x{med['platform'] / med['edge']:.2f}, "
        f"RSS x{rss['edge'] / rss['platform']:.2f}, "
        f"install x{sizes['edge'][0] / sizes['platform'][0]:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(quick="--quick" in sys.argv))
