"""The results page's charts and their two-level cache: cold, Redis-only and warm.

``python -m bench --figures-only`` (``make bench BENCH_ARGS=--figures-only``; ``--figures-rows
N``, default 1,000,000; ``--quick``: 100,000 rows, 2 repeats; ``--figures-repeat R``, default 3).

A child process sets up Django against a fresh SQLite database (migrated) and an embedded
Redis under a temporary directory, writes a generated run of N rows (8 features, a time
column, 2 % shifted, contributions of 4 features) the way the worker stores one, and signs a
test client in as its owner. Each repeat, in this order:

* **page cold / warm**: everything emptied (the process's column and figure caches and
  Redis), then the results page twice;
* **figure cold**: everything emptied, each chart's JSON (``?w=1280``) once — what the first
  viewer of a run waits for;
* **figure shared**: the process's caches emptied, Redis kept — another web process, or this
  one after a restart;
* **figure warm**: the same request again (the process's LRU).

Medians over the repeats, the load average beside them, and the hit rate of the figure cache
over every figure request of the bench from ``pynomaly_cache_requests_total``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.platform import _table, _tmp_parent

ROOT = Path(__file__).resolve().parents[1]
CHARTS = ("histogram", "timeseries", "heatmap", "projection")

CHILD = r"""
import json, os, statistics, sys, time, uuid
from pathlib import Path
import django
django.setup()
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from django.core.cache import caches
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

rows, repeats = int(sys.argv[1]), int(sys.argv[2])
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from apps.datasets.models import Dataset, DatasetVersion
from apps.detectors.models import DetectorConfig, DetectorConfigVersion
from apps.runs import figures, selectors
from apps.runs.models import Run
from apps.tenants.services import tenant_create

media = Path(os.environ["MEDIA_ROOT"])
def write(sub, table):
    name = f"{sub}/{uuid.uuid4().hex}.parquet"
    (media / sub).mkdir(parents=True, exist_ok=True)
    pq.write_table(table, media / name, row_group_size=128_000)
    return name

user = get_user_model().objects.create_user(username="bench", email="bench@example.com")
tenant = tenant_create(name="Bench", owner=user)
rng = np.random.default_rng(0)
data = {f"f{i}": rng.normal(size=rows) for i in range(8)}
data["timestamp"] = (np.datetime64("2024-01-01T00:00") + np.arange(rows).astype("timedelta64[s]")).astype("datetime64[ns]")
data_name = write("datasets/parquet", pa.table(data))
dataset = Dataset.objects.create(tenant=tenant, name="bench", status=Dataset.Status.READY)
version = DatasetVersion.objects.create(
    tenant=tenant, dataset=dataset, number=1, sha256=uuid.uuid4().hex, original=data_name,
    original_name="bench.csv", format="csv", size=(media / data_name).stat().st_size,
    parquet=data_name, rows=rows, columns=len(data),
    schema=[{"name": k, "dtype": "double"} for k in data], time_column="timestamp")
scores = rng.normal(size=rows)
scores[rng.random(rows) < 0.02] += 4
threshold = 2.5
lo, hi = float(scores.min()), float(scores.max())
results = {"row_id": pa.array(np.arange(rows, dtype=np.int64)), "score": pa.array(scores),
           "label": pa.array((scores > threshold).astype(np.int8)),
           "severity": pa.array(100 * (scores - lo) / (hi - lo))}
for i in range(4):
    results[f"contrib:f{i}"] = pa.array(rng.random(rows))
config = DetectorConfig.objects.create(tenant=tenant, name="IForest")
detector = DetectorConfigVersion.objects.create(tenant=tenant, config=config, number=1,
                                                pipeline={"detectors": [["iforest", {}]]})
flagged = int((scores > threshold).sum())
now = timezone.now()
run = Run.objects.create(
    tenant=tenant, dataset_version=version, detector_version=detector, status="succeeded",
    results=write("runs", pa.table(results)), threshold=threshold,
    started_at=now, finished_at=now,
    summary={"rows": rows, "anomalies": flagged, "anomaly_rate": flagged / rows,
             "threshold": threshold, "feature_names": [], "has_contributions": True,
             "time_column": "timestamp", "label_column": None})
client = Client()
client.force_login(user)
page_url = run.url("results")

def empty(shared):
    selectors._cache.clear()
    figures.cache().local.clear()
    if shared:
        caches["default"].clear()

def timed(url):
    t = time.perf_counter()
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code)
    return time.perf_counter() - t, len(r.content)

def reads():
    out = {}
    for level in ("local", "shared"):
        for result in ("hit", "miss", "error"):
            labels = {"cache": "figures", "level": level, "result": result}
            out[f"{level}_{result}"] = REGISTRY.get_sample_value("pynomaly_cache_requests_total", labels) or 0.0
    return out

names = ("histogram", "timeseries", "heatmap", "projection")
urls = {n: figures.url(run, n) + "&w=1280" for n in names}
out = {"rows": rows, "page": [], "figures": {n: [] for n in names}, "load": []}
start = reads()
for _ in range(repeats):
    empty(True)
    cold_page, page_bytes = timed(page_url)
    warm_page, _ = timed(page_url)
    empty(True)
    cold = {n: timed(u) for n, u in urls.items()}
    empty(False)
    shared = {n: timed(u) for n, u in urls.items()}
    warm = {n: timed(u) for n, u in urls.items()}
    out["page"].append({"cold": cold_page, "warm": warm_page, "bytes": page_bytes})
    for n in names:
        out["figures"][n].append({"cold": cold[n][0], "shared": shared[n][0], "warm": warm[n][0], "bytes": cold[n][1]})
    out["load"].append(os.getloadavg()[0])
end = reads()
out["reads"] = {k: end[k] - start[k] for k in end}
print("RESULT " + json.dumps(out))
"""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def main(argv: list[str] | None = None, *, quick: bool = False) -> int:
    p = argparse.ArgumentParser(prog="python -m bench --figures-only")
    p.add_argument("--figures-rows", type=int, default=100_000 if quick else 1_000_000)
    p.add_argument("--figures-repeat", type=int, default=2 if quick else 3)
    args, _ = p.parse_known_args(argv or [])
    from pynomaly_web import embedded_redis

    print(f"\n== figures: the results page's charts and their cache, {args.figures_rows:,} rows")
    with tempfile.TemporaryDirectory(prefix="pyn-bench-figures-", dir=_tmp_parent()) as tmp:
        redis, redis_url = embedded_redis.start()
        try:
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
                "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
                "REDIS_URL": redis_url,
                "MEDIA_ROOT": f"{tmp}/media",
                "PROMETHEUS_MULTIPROC_DIR": "",
                "LOG_LEVEL": "WARNING",
            }
            env.pop("PROMETHEUS_MULTIPROC_DIR")
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.figures_rows), str(args.figures_repeat)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            embedded_redis.stop(redis)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n")
        return 1
    out = json.loads(lines[-1][len("RESULT ") :])

    def med(values: list[float]) -> float:
        return statistics.median(values)

    pages = out["page"]
    rows = [
        [
            "results page (HTML)",
            _ms(med([r["cold"] for r in pages])),
            "—",
            _ms(med([r["warm"] for r in pages])),
            f"{pages[0]['bytes']:,}",
        ]
    ]
    for name, runs in out["figures"].items():
        rows.append(
            [
                f"{name}.json (w=1280)",
                _ms(med([r["cold"] for r in runs])),
                _ms(med([r["shared"] for r in runs])),
                _ms(med([r["warm"] for r in runs])),
                f"{runs[0]['bytes']:,}",
            ]
        )
    _table(["request", "cold", "Redis only", "warm (process)", "bytes"], rows, numeric={1, 2, 3, 4})
    r = out["reads"]
    requests = r["local_hit"] + r["local_miss"]
    hits = r["local_hit"] + r["shared_hit"]
    print(
        f"figure cache: {requests:.0f} reads, {r['local_hit']:.0f} hits in the process, "
        f"{r['shared_hit']:.0f} in Redis, {r['shared_miss']:.0f} built, "
        f"{r['shared_error']:.0f} Redis errors; hit rate {hits / max(requests, 1):.0%} "
        f"(the bench empties the caches {2 * len(pages)} times on purpose)"
    )
    print(
        f"medians of {len(pages)} repeats; load average "
        + ", ".join(f"{x:.2f}" for x in out["load"])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
