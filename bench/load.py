"""Concurrent clients against the real web server on PostgreSQL: errors and latency per endpoint.

``python -m bench --only load`` (``make bench BENCH_ARGS="--only load"``; ``--load-seconds 10``
for a smoke run). A fresh PostgreSQL database (``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/pynomaly_bench_load``; dropped and created) is migrated
and seeded in a child process (a signed-up user, a workspace with 40 datasets and 40 runs, a
read token); the web server (``python -m pynomaly_web.serve``, one process, as ``make run``
serves) runs on it with the API's rate limits raised out of the way, and N client threads
(default 50), each with its own keep-alive session, request the signed-in dataset list page
and the API's dataset and run lists in turn for the duration. Every answer other than 200
counts as an error. Meanwhile the bench samples how many connections the server holds open
on PostgreSQL (pg_stat_activity), which the connection pool bounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from bench.platform import _free_port, _login

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/pynomaly_bench_load"
EMAIL, PASSWORD = "bench@example.com", "bench-platform-password-42"
SEEDED = 40
RATE_OFF = "1000000/min"

SETUP = r"""
import json, sys
import django
django.setup()
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management import call_command
from apps.api.services import token_create
from apps.datasets.models import Dataset, DatasetVersion
from apps.detectors.services import detector_config_create, pipeline_build
from apps.runs.models import Run
from apps.tenants.services import tenant_create

email, password, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
call_command("migrate", verbosity=0, interactive=False)
user = get_user_model().objects.create_user(username="bench", email=email, password=password)
EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
tenant = tenant_create(name="Bench", owner=user)
_token, raw = token_create(user=user, tenant=tenant, name="bench", scope="read")
pipeline = pipeline_build(detectors=[("iforest", {})], threshold_value=0.05)
config = detector_config_create(tenant=tenant, user=user, name="forest", pipeline=pipeline)
for i in range(n):
    ds = Dataset.objects.create(tenant=tenant, name=f"dataset {i}", status="ready", created_by=user)
    version = DatasetVersion.objects.create(
        tenant=tenant, dataset=ds, number=1, sha256=f"{i:064x}", original=f"x/{i}.csv",
        original_name=f"data-{i}.csv", format="csv", size=1000, parquet=f"x/{i}.parquet",
        rows=1000, columns=3, schema=[{"name": c, "dtype": "float64"} for c in "abc"],
        created_by=user,
    )
    Run.objects.create(tenant=tenant, dataset_version=version, detector_version=config.current,
                       status="succeeded", percent=100, created_by=user)
print(json.dumps({"slug": tenant.slug, "token": raw}))
"""


def _admin_url(url: str) -> tuple[str, str]:
    """The maintenance database's URL beside ``url``, and ``url``'s database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def _recreate(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            con.execute(f'CREATE DATABASE "{name}"')


class Stack:
    """A fresh PostgreSQL database, Redis (embedded unless REDIS_URL), the seeded web server."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.tmp = tempfile.TemporaryDirectory(prefix="pynomaly-bench-load-")
        self.redis = None
        self.web: subprocess.Popen | None = None

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        _recreate(self.database_url)
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            from pynomaly_web import embedded_redis

            self.redis, redis_url = embedded_redis.start()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
            "DATABASE_URL": self.database_url,
            "MEDIA_ROOT": str(Path(self.tmp.name) / "media"),
            "REDIS_URL": redis_url,
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "API_RATE_PER_TOKEN": RATE_OFF,
            "API_RATE_PER_IP": RATE_OFF,
            "PYTHONPATH": str(ROOT),
        }
        done = subprocess.run(
            [sys.executable, "-c", SETUP, EMAIL, PASSWORD, str(SEEDED)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError("setup failed: " + done.stderr.strip()[-1500:])
        self.seed = json.loads(done.stdout.strip().splitlines()[-1])
        self.web_env = env
        port = _free_port()
        self.log = Path(self.tmp.name) / "web.log"
        with open(self.log, "wb") as err:
            self.web = subprocess.Popen(
                [sys.executable, "-m", "pynomaly_web.serve", "--port", str(port), "--no-access-log"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        import requests

        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.web.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start: " + self.log.read_text()[-1500:])
            time.sleep(0.2)

    def stop_web(self) -> None:
        """Stop the one web process (bench.loadbalancer starts its own on the same stack)."""
        if self.web is not None and self.web.poll() is None:
            self.web.terminate()
            self.web.wait(timeout=10)

    def __exit__(self, *exc) -> None:
        if self.web is not None and self.web.poll() is None:
            self.web.terminate()
            try:
                self.web.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.web.kill()
        if self.redis is not None:
            from pynomaly_web import embedded_redis

            embedded_redis.stop(self.redis)
        try:
            _recreate(self.database_url, drop_only=True)
        except Exception as exc:  # leave the database; say so
            print(f"could not drop the bench database: {exc}", file=sys.stderr)
        self.tmp.cleanup()


class ConnectionSampler(threading.Thread):
    """Peak number of connections other sessions hold on the bench database."""

    def __init__(self, database_url: str):
        super().__init__(daemon=True)
        self.database_url, self.peak, self.stopped = database_url, 0, threading.Event()

    def run(self) -> None:
        import psycopg

        name = _admin_url(self.database_url)[1]
        with psycopg.connect(self.database_url, autocommit=True) as con:
            while not self.stopped.wait(0.25):
                (count,) = con.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchone()
                self.peak = max(self.peak, count)


def endpoints(slug: str) -> list[tuple[str, str, bool]]:
    """(label, path, uses the API token)."""
    return [
        ("web  GET /t/<ws>/datasets/ (signed in)", f"/t/{slug}/datasets/", False),
        ("API  GET /api/v1/datasets", "/api/v1/datasets", True),
        ("API  GET /api/v1/runs", "/api/v1/runs", True),
    ]


def hammer(stack: Stack, clients: int, seconds: float) -> tuple[dict, Counter, float]:
    """Every client cycles through the endpoints until the time is up; latency per endpoint."""
    import requests

    cookies = _login(stack.url).cookies
    targets = endpoints(stack.seed["slug"])
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at: list[float] = []

    def client(index: int) -> None:
        s = requests.Session()
        s.cookies.update(cookies)
        token = {"Authorization": f"Bearer {stack.seed['token']}"}
        mine: dict[str, list[float]] = defaultdict(list)
        bad: Counter = Counter()
        start.wait()
        i = index
        while time.monotonic() < stop_at[0]:
            label, path, api = targets[i % len(targets)]
            i += 1
            t0 = time.perf_counter()
            try:
                r = s.get(stack.url + path, headers=token if api else None, timeout=60)
                status = r.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            mine[label].append(time.perf_counter() - t0)
            if status != 200:
                bad[(label, status)] += 1
        with lock:
            for label, values in mine.items():
                latencies[label] += values
            errors.update(bad)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at.append(time.monotonic() + seconds)
    t0 = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    return latencies, errors, time.monotonic() - t0


def main(*, clients: int = 50, seconds: float = 60.0) -> int:
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    parts = urlsplit(database_url)
    safe_url = parts._replace(netloc=f"{parts.hostname}:{parts.port or 5432}")  # no password
    print(
        f"\nload: {clients} concurrent clients for {seconds:g} s against the web server (uvicorn, one "
        f"process) on PostgreSQL ({urlunsplit(safe_url)}, fresh database, {SEEDED} datasets and "
        f"runs); API rate limits raised to {RATE_OFF} per token and per IP for the bench "
        "(the defaults, 600/min per token, would refuse most requests); every answer but 200 is "
        "an error",
        flush=True,
    )
    print(f"  running load ({clients} clients, {seconds:g} s) ...", file=sys.stderr, flush=True)
    try:
        with Stack(database_url) as stack:
            sampler = ConnectionSampler(database_url)
            sampler.start()
            latencies, errors, elapsed = hammer(stack, clients, seconds)
            load = os.getloadavg()
            sampler.stopped.set()
            sampler.join(timeout=5)
    except Exception as exc:
        print(f"load failed: {type(exc).__name__}: {exc}")
        return 1
    total = sum(len(v) for v in latencies.values())
    n_errors = sum(errors.values())
    header = ["endpoint", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "req/s"]
    table = []
    for label, _path, _api in endpoints("<ws>"):
        ms = np.asarray(latencies.get(label, [0.0])) * 1000
        bad = sum(n for (lab, _), n in errors.items() if lab == label)
        table.append(
            [label, f"{len(latencies.get(label, [])):,}", str(bad)]
            + [f"{np.percentile(ms, q):.0f}" for q in (50, 95, 99)]
            + [f"{len(latencies.get(label, [])) / elapsed:.1f}"]
        )
    table.append(["all", f"{total:,}", str(n_errors), "", "", "", f"{total / elapsed:.1f}"])
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *table]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))  # fmt: skip
    for (label, status), n in errors.most_common(5):
        print(f"  error: {label.split('(')[0].strip()}: {status} x {n}")
    print(
        f"errors: {n_errors} (target 0: {'ok' if n_errors == 0 else 'MISSED'}); peak PostgreSQL "
        f"connections held by the server: {sampler.peak} (pool max DB_POOL_MAX_SIZE="
        f"{os.environ.get('DB_POOL_MAX_SIZE', '20')}); load average at the end: "
        f"{', '.join(f'{x:.2f}' for x in load)} on {os.cpu_count()} CPUs (the clients run on the "
        "same machine)"
    )
    return 0 if n_errors == 0 else 1
