"""A large run scored in parts over 1 and 2 Celery worker processes, beside raw PyOD.

``python -m bench --fanout-only`` (``make bench BENCH_ARGS=--fanout-only``; ``--fanout-rows
N[,N…]``, default 1,000,000,5,000,000; ``--quick``: 200,000 rows; ``--fanout-repeat R``,
default 2).

Under a temporary directory: a migrated SQLite database, an embedded Redis, a generated
Parquet dataset of N rows × 10 features stored as the ingest stores one, an IForest
configuration (fit on a seeded 100k-row sample, as the platform bench). Each repeat runs,
interleaved, in this order:

* **raw**: PyOD's IForest in one process, fitted on the same-size sample, ``decision_function``
  over every row (the Parquet read included) — the same work without the platform;
* **not spread**: the run in one task (``RUN_FANOUT_PART_ROWS=0``) on a 1-process worker;
* **1 process** / **2 processes**: a Celery worker (prefork, ``--concurrency`` 1 or 2, started
  before the clock) runs the run's task; rows beyond ``RUN_FANOUT_PART_ROWS`` (500,000) are
  scored in parts by whichever process is free (``apps.runs.fanout``). The time is the run's
  wall time from the worker taking it to the run finished (load, fit, score, explain, write),
  with its scoring stage beside it.

Medians over the repeats, ratios against raw and 2 vs 1, the load average beside each.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.platform import _table, _tmp_parent

ROOT = Path(__file__).resolve().parents[1]
FIT_ROWS = 100_000
FEATURES = 10

SETUP = r"""
import json, os, sys, uuid
from pathlib import Path
import django
django.setup()
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from django.contrib.auth import get_user_model
from apps.datasets.models import Dataset, DatasetVersion
from apps.detectors.services import detector_config_create, pipeline_build
from apps.tenants.services import tenant_create

rows, features, fit_rows = (int(a) for a in sys.argv[1:4])
media = Path(os.environ["MEDIA_ROOT"])
user = get_user_model().objects.create_user(username="bench", email="bench@example.com")
tenant = tenant_create(name="Bench", owner=user)
rng = np.random.default_rng(0)
name = f"datasets/parquet/{uuid.uuid4().hex}.parquet"
(media / "datasets/parquet").mkdir(parents=True, exist_ok=True)
writer = None
for start in range(0, rows, 500_000):  # generated in blocks: 5M rows need not sit in memory twice
    n = min(500_000, rows - start)
    X = rng.normal(size=(n, features))
    X[rng.random(n) < 0.01] += 6
    table = pa.table({f"f{i}": X[:, i] for i in range(features)})
    writer = writer or pq.ParquetWriter(media / name, table.schema)
    writer.write_table(table, row_group_size=128_000)
writer.close()
dataset = Dataset.objects.create(tenant=tenant, name="bench", status=Dataset.Status.READY)
version = DatasetVersion.objects.create(
    tenant=tenant, dataset=dataset, number=1, sha256=uuid.uuid4().hex, original=name,
    original_name="bench.parquet", format="parquet", size=(media / name).stat().st_size,
    parquet=name, rows=rows, columns=features,
    schema=[{"name": f"f{i}", "dtype": "double"} for i in range(features)])
pipeline = pipeline_build(detectors=[("iforest", {})], threshold_kind="contamination",
                          threshold_value=0.01, prepare={"scaling": "none"})
config = detector_config_create(tenant=tenant, user=user, name="IForest", pipeline=pipeline)
print(json.dumps({"version": version.pk, "detector": config.current.pk, "tenant": tenant.pk,
                  "user": user.pk, "data": str(media / name)}))
"""

START = r"""
import json, sys
import django
django.setup()
from apps.runs.models import Run
from apps.runs.tasks import execute_run
s = json.loads(sys.argv[1])
run = Run.objects.create(tenant_id=s["tenant"], dataset_version_id=s["version"],
                         detector_version_id=s["detector"], created_by_id=s["user"],
                         max_fit_rows=int(sys.argv[2]))
execute_run.apply_async(args=[run.pk], queue=sys.argv[3])
print(run.pk)
"""

RAW = r"""
import sys, time
t = time.perf_counter()
import numpy as np, pyarrow.parquet as pq
from pyod.models.iforest import IForest
X = np.column_stack([c.to_numpy() for c in pq.read_table(sys.argv[1]).columns])
rows = np.sort(np.random.default_rng(42).choice(len(X), size=int(sys.argv[2]), replace=False))
model = IForest(random_state=42).fit(X[rows])
scores = model.decision_function(X)
print(time.perf_counter() - t, float(scores.mean()))
"""


def _call(env: dict, args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


class Worker:
    """A Celery worker subprocess with ``concurrency`` prefork processes on its own queue."""

    def __init__(self, env: dict, concurrency: int, log: Path):
        self.queue = f"bench-fanout-{concurrency}-{os.getpid()}"
        argv = [sys.executable, "-m", "celery", "-A", "pynomaly_web", "worker", "--pool=prefork"]
        argv += [f"--concurrency={concurrency}", "-Q", self.queue, "-n", f"{self.queue}@%h"]
        argv += ["--loglevel=INFO"]
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env={**env, "CELERY_QUEUE": self.queue}, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while b" ready." not in log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _run_on(env: dict, setup: dict, db: Path, concurrency: int, logs: Path) -> dict:
    worker = Worker(env, concurrency, logs / f"worker-{concurrency}.log")
    try:
        run_id = int(_call(env, ["-c", START, json.dumps(setup), str(FIT_ROWS), worker.queue]))
        deadline = time.monotonic() + 3600
        while True:
            with sqlite3.connect(db) as conn:
                status, started, finished, timings, summary, error = conn.execute(
                    "select status, started_at, finished_at, timings, summary, error "
                    "from runs_run where id = ?",
                    (run_id,),
                ).fetchone()
            if status in ("succeeded", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} did not finish within an hour")
            time.sleep(0.5)
    finally:
        worker.stop()
    if status != "succeeded":
        raise RuntimeError(f"run {run_id} {status}: {error}\n{worker.log.read_text()[-3000:]}")
    from datetime import datetime

    seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    timings = json.loads(timings)
    return {
        "seconds": seconds,
        "scoring": timings.get("scoring", 0.0),
        "fanout": json.loads(summary).get("fanout"),
        "load": os.getloadavg()[0],
    }


def _one_size(rows: int, repeats: int) -> list[list[str]]:
    from pynomaly_web import embedded_redis

    with tempfile.TemporaryDirectory(prefix="pyn-bench-fanout-", dir=_tmp_parent()) as tmp:
        redis, redis_url = embedded_redis.start()
        try:
            db = Path(tmp) / "bench.sqlite3"
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
                "DATABASE_URL": f"sqlite:///{db}",
                "REDIS_URL": redis_url,
                "MEDIA_ROOT": f"{tmp}/media",
                "LOG_LEVEL": "WARNING",
                "RUN_HEARTBEAT_SECONDS": "5",
            }
            env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            _call(env, ["manage.py", "migrate", "--noinput", "-v", "0"])
            setup = json.loads(_call(env, ["-c", SETUP, str(rows), str(FEATURES), str(FIT_ROWS)]))
            out: dict[str, list[dict]] = {"raw": [], "whole": [], "1": [], "2": []}
            whole_env = {**env, "RUN_FANOUT_PART_ROWS": "0"}
            for _ in range(repeats):  # interleaved: raw, one task, 1 process, 2 processes, raw…
                line = _call(env, ["-c", RAW, setup["data"], str(FIT_ROWS)])
                out["raw"].append({"seconds": float(line.split()[0]), "load": os.getloadavg()[0]})
                out["whole"].append(_run_on(whole_env, setup, db, 1, Path(tmp)))
                for c in ("1", "2"):
                    out[c].append(_run_on(env, setup, db, int(c), Path(tmp)))
        finally:
            embedded_redis.stop(redis)

    def med(side: str, key: str = "seconds") -> float:
        return statistics.median(r[key] for r in out[side])

    def loads(side: str) -> str:
        return ", ".join(f"{r['load']:.1f}" for r in out[side])

    raw, whole, one, two = med("raw"), med("whole"), med("1"), med("2")
    label = f"{rows / 1e6:g}M" if rows >= 1_000_000 else f"{rows // 1000}k"
    parts = out["2"][0]["fanout"] or {"parts": 1, "workers": 1}
    return [
        [f"{label} raw PyOD", f"{raw:.1f}", "—", "1.00", "—", "1 process", loads("raw")],
        [f"{label} not spread", f"{whole:.1f}", f"{med('whole', 'scoring'):.1f}",
         f"{whole / raw:.2f}", "—", "1 task", loads("whole")],
        [f"{label} 1 process", f"{one:.1f}", f"{med('1', 'scoring'):.1f}", f"{one / raw:.2f}",
         "—", f"{parts['parts']} parts", loads("1")],
        [f"{label} 2 processes", f"{two:.1f}", f"{med('2', 'scoring'):.1f}", f"{two / raw:.2f}",
         f"{two / one:.2f}", f"{parts['parts']} parts, {parts['workers']} processes", loads("2")],
    ]  # fmt: skip


def main(argv: list[str] | None = None, *, quick: bool = False) -> int:
    p = argparse.ArgumentParser(prog="python -m bench --fanout-only")
    p.add_argument("--fanout-rows", default="200000" if quick else "1000000,5000000")
    p.add_argument("--fanout-repeat", type=int, default=1 if quick else 2)
    args, _ = p.parse_known_args(argv or [])
    sizes = [int(x) for x in args.fanout_rows.split(",") if x.strip()]
    print(
        f"\n== fan-out: a run's scoring over 1 and 2 worker processes (IForest, fit on "
        f"{FIT_ROWS:,} rows, {FEATURES} features; {os.cpu_count()} cores)"
    )
    rows: list[list[str]] = []
    for n in sizes:
        try:
            rows += _one_size(n, args.fanout_repeat)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
    _table(
        ["rows / side", "wall s", "scoring s", "÷ raw", "2 ÷ 1", "spread", "load average"],
        rows,
        numeric={1, 2, 3, 4},
    )
    print(f"medians of {args.fanout_repeat} repeat(s); wall = the run from taken to finished")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
