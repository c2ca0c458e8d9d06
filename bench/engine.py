"""Time and peak memory of ``pynomaly detect`` against the hand-written script.

Every measurement runs in a fresh child process (``python -m bench.raw`` or
``python -m pynomaly``); its peak resident memory comes from ``wait4``'s rusage for that
child alone, so imports, reading, fitting, scoring and writing are all counted, for both.
Generated data goes to ``var/bench`` (git-ignored), never into the repository.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "adbench"
WORKDIR = ROOT / "var" / "bench"
FIT_ROWS = 100_000
SEED = 42
ADBENCH = ("1_ALOI", "10_cover", "34_smtp")


@dataclass
class Job:
    name: str
    raw: list[str] = field(default_factory=list)
    pynomaly: list[str] = field(default_factory=list)
    skip: str | None = None


@dataclass
class Measurement:
    seconds: float
    cpu_seconds: float
    peak_mb: float
    stdout: str
    error: str | None = None


def run_child(argv: list[str]) -> Measurement:
    """Run ``python argv...`` in a fresh process; return wall time and its own peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    error = None
    if proc.returncode != 0:
        last = (stderr.strip().splitlines() or ["no message"])[-1]
        error = f"exit {proc.returncode}: {last}"
    cpu = usage.ru_utime + usage.ru_stime
    return Measurement(seconds, cpu, usage.ru_maxrss / 1024, stdout, error)  # maxrss: KiB


# ------------------------------------------------------------------------------ data


def make_csv(rows: int, cols: int = 10, seed: int = 0) -> Path:
    """A seeded float CSV with 1 % shifted rows; cached across runs in var/bench."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = WORKDIR / f"synthetic_{rows}x{cols}_seed{seed}.csv"
    if path.exists():
        return path
    WORKDIR.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".part")
    names = [f"x{i}" for i in range(cols)]
    with pacsv.CSVWriter(tmp, pa.schema([(n, pa.float64()) for n in names])) as writer:
        for start in range(0, rows, 250_000):
            n = min(250_000, rows - start)
            X = rng.standard_normal((n, cols))
            X[rng.random(n) < 0.01] += 6.0
            writer.write_table(pa.table({name: X[:, i] for i, name in enumerate(names)}))
    tmp.rename(path)
    return path


def adbench_parquet(name: str) -> Path | None:
    """The ADBench file as Parquet with a ``y`` label column (both sides read the same)."""
    src = SHARED / f"{name}.npz"
    if not src.exists():
        return None
    import pandas as pd

    path = WORKDIR / f"{name}.parquet"
    if not path.exists():
        WORKDIR.mkdir(parents=True, exist_ok=True)
        with np.load(src) as npz:
            X, y = npz["X"], npz["y"]
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
        frame["y"] = y.astype(np.int64)
        frame.to_parquet(path, index=False)
    return path


# ------------------------------------------------------------------------------ jobs


def jobs(rows: int, out: Path) -> list[Job]:
    found = []
    csv = make_csv(rows)
    label = f"{rows // 1000:,}k" if rows < 1_000_000 else f"{rows / 1e6:g}M"
    for det in ("iforest", "ecod", "hbos"):
        fit_rows = str(min(FIT_ROWS, rows))
        found.append(
            Job(
                f"csv {label}x10 {det}",
                ["-m", "bench.raw", det, str(csv), str(out / f"raw-{det}.csv")]
                + ["--fit-rows", fit_rows, "--seed", str(SEED)],
                ["-m", "pynomaly", "detect", str(csv), "-d", det, "--max-fit-rows", fit_rows]
                + ["--seed", str(SEED), "--scaling", "none", "--quiet"]
                + ["-o", str(out / f"pynomaly-{det}.csv")],
            )
        )
    for name in ADBENCH:
        path = adbench_parquet(name)
        if path is None:
            found.append(Job(f"{name} iforest", skip=f"{SHARED} is absent"))
            continue
        found.append(
            Job(
                f"{name} iforest",
                ["-m", "bench.raw", "iforest", str(path), str(out / f"raw-{name}.parquet")]
                + ["--label-column", "y", "--seed", str(SEED)],
                ["-m", "pynomaly", "detect", str(path), "-d", "iforest", "--label-column", "y"]
                + ["--seed", str(SEED), "--scaling", "none", "--explain", "0"]
                + ["-o", str(out / f"pynomaly-{name}.parquet")],
            )
        )
    return found


def _auc(stdout: str) -> str | None:
    m = re.search(r"(?:roc_auc=|ROC-AUC )([0-9.]+)", stdout)
    return m.group(1) if m else None


def measure(job: Job, repeat: int) -> list[str]:
    if job.skip:
        return [job.name, "-", "-", "-", "-", "-", "-", f"skipped: {job.skip}"]
    raws, pyns = [], []
    for _ in range(repeat):  # interleaved, so drift in machine load hits both sides
        raws.append(run_child(job.raw))
        pyns.append(run_child(job.pynomaly))
    for side, ms in (("raw", raws), ("pynomaly", pyns)):
        failed = next((m.error for m in ms if m.error), None)
        if failed:
            return [job.name, "-", "-", "-", "-", "-", "-", f"{side} failed: {failed}"]
    rt = statistics.median(m.seconds for m in raws)
    pt = statistics.median(m.seconds for m in pyns)
    rm = statistics.median(m.peak_mb for m in raws)
    pm = statistics.median(m.peak_mb for m in pyns)
    rc = statistics.median(m.cpu_seconds for m in raws)
    pc = statistics.median(m.cpu_seconds for m in pyns)
    note = f"cpu s {rc:.1f} / {pc:.1f} = {pc / rc:.2f}x"
    if _auc(raws[0].stdout) or _auc(pyns[0].stdout):
        note += f"; ROC-AUC {_auc(raws[0].stdout)} / {_auc(pyns[0].stdout)}"
    return [
        job.name,
        f"{rt:.2f}",
        f"{pt:.2f}",
        f"{pt / rt:.2f}x",
        f"{rm:.0f}",
        f"{pm:.0f}",
        f"{pm / rm:.2f}x",
        note,
    ]


HEADER = ["job", "raw s", "pynomaly s", "ratio", "raw peak MB", "pynomaly peak MB", "ratio"]
HEADER.append("raw / pynomaly")


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    numeric = range(1, 7)

    def fmt(row):
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    print(fmt(HEADER))
    print("  ".join("-" * w for w in widths[:-1]))
    for row in rows:
        print(fmt(row))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100k-row CSV, one repeat (smoke run)")
    p.add_argument("--rows", type=int, help="rows of the synthetic CSV (default 1,000,000)")
    p.add_argument("--repeat", type=int, help="runs per side; the median is shown (default 3)")
    p.add_argument("--only", action="append", help="run jobs whose name contains this text")
    args = p.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (1 if args.quick else 3)

    print(
        f"pynomaly bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"median of {repeat} fresh processes per cell; IForest/ECOD/HBOS fit on a seeded "
        f"{FIT_ROWS:,}-row sample of the CSV, scored on all rows, scores written as CSV",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="pynomaly-bench-") as tmp:
        selected = [
            j for j in jobs(rows, Path(tmp)) if not args.only or any(o in j.name for o in args.only)
        ]
        if not selected:
            print("no job matches --only", file=sys.stderr)
            return 2
        results = []
        for job in selected:
            print(f"  running {job.name} ...", file=sys.stderr, flush=True)
            results.append(measure(job, repeat))
    print_table(results)
    failed = [r for r in results if "failed" in r[-1]]
    return 1 if failed else 0
