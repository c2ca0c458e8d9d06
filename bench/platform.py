"""The bench's CSV × IForest job through the whole platform, beside the engine and the raw script.

``python -m bench --only platform`` (``--quick``: 100k rows). The platform side is what a
user of the web app waits for: a real web server (uvicorn, as `make run` serves) and a real Celery worker (prefork,
concurrency 1) as subprocesses, against a fresh SQLite database (migrated first) and an
embedded Redis, all under a temporary directory. A signed-in ``requests`` session uploads
the generated CSV as a multipart form (with its CSRF token), the worker ingests it (parse,
profile, Parquet), the session starts a run of an IForest configuration (fit on a seeded
100k-row sample, scaling none — what ``bench.raw`` does) and the bench polls the database
until the run has finished. The same file goes through ``python -m bench.raw`` and
``pynomaly detect`` in the same bench run (``bench.engine``'s job and child runner), so the
three times sit in one table (the three sides run interleaved, raw, engine, platform, raw…,
with the load average printed beside each repeat's figures); a second table says where the platform's time went (the
upload request, ingestion, the run's own stages from ``Run.timings``, queueing), and a
third the time to render the run's results page (first and second GET).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import engine

ROOT = engine.ROOT
PASSWORD = "bench-platform-password-42"
EMAIL = "bench@example.com"
DETECTOR = "iforest"


def job_name(rows: int) -> str:
    label = f"{rows // 1000:,}k" if rows < 1_000_000 else f"{rows / 1e6:g}M"
    return f"platform csv {label}x10 {DETECTOR}"


# ------------------------------------------------------------------------------ services

SETUP = r"""
import json, sys
import django
django.setup()
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from apps.detectors.services import detector_config_create
from apps.tenants.services import tenant_create
from pynomaly.detect import PipelineConfig
from pynomaly.prepare import PrepareOptions

email, password, fit_rows, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
user = get_user_model().objects.create_user(username="bench", email=email, password=password)
EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
tenant = tenant_create(name="Bench", owner=user)
pipeline = PipelineConfig(detectors=(("iforest", {}),), prepare=PrepareOptions(scaling="none"),
                          seed=seed, max_fit_rows=fit_rows).to_dict()
config = detector_config_create(tenant=tenant, user=user, name="IForest (bench)", pipeline=pipeline)
print(json.dumps({"slug": tenant.slug, "config": config.pk, "pipeline": pipeline}))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process, in MB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else None


class Platform:
    """Redis, a migrated SQLite database, the web server and a Celery worker under one temp dir."""

    def __init__(self, workdir: Path, fit_rows: int):
        self.workdir, self.fit_rows = workdir, fit_rows
        self.db = workdir / "db.sqlite3"
        self.procs: list[subprocess.Popen] = []
        self.redis = None

    def __enter__(self) -> Platform:
        from pynomaly_web import embedded_redis

        try:
            self.redis, redis_url = embedded_redis.start()
            self.env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
                "DATABASE_URL": f"sqlite:///{self.db}",
                "REDIS_URL": redis_url,
                "MEDIA_ROOT": str(self.workdir / "media"),
                "FILE_UPLOAD_TEMP_DIR": str(self._mkdir("upload-tmp")),
                "CELERY_QUEUE": "bench-platform",
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
            self._call(["manage.py", "migrate", "--noinput", "-v", "0"])
            out = self._call(["-c", SETUP, EMAIL, PASSWORD, str(self.fit_rows), str(engine.SEED)])
            self.setup = json.loads(out.strip().splitlines()[-1])
            self._start_web()
            self._start_worker()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.redis is not None:
            from pynomaly_web import embedded_redis

            embedded_redis.stop(self.redis)

    def _mkdir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _call(self, argv: list[str]) -> str:
        done = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr[-2000:]}")
        return done.stdout

    def _log(self, name: str):
        return open(self.workdir / f"{name}.log", "wb")

    def _start_web(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.web = subprocess.Popen(
            [sys.executable, "-m", "pynomaly_web.serve", "--port", str(port), "--no-access-log"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._log("web"),
        )
        self.procs.append(self.web)
        self._wait(lambda: self._answers(port), "web server")

    def _start_worker(self) -> None:
        celery = Path(sys.executable).with_name("celery")
        self.worker = subprocess.Popen(
            [
                str(celery),
                "-A",
                "pynomaly_web",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._log("worker"),
        )
        self.procs.append(self.worker)
        self._wait(
            lambda: b" ready." in (self.workdir / "worker.log").read_bytes(), "celery worker"
        )

    def _answers(self, port: int) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    def _wait(self, ready, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if any(p.poll() is not None for p in self.procs) or time.monotonic() > deadline:
                logs = "".join(
                    (self.workdir / f"{n}.log").read_text(errors="replace")[-1500:]
                    for n in ("web", "worker")
                    if (self.workdir / f"{n}.log").exists()
                )
                raise RuntimeError(f"{what} did not start:\n{logs}")
            time.sleep(0.05)

    def worker_peak_mb(self) -> float | None:
        """Peak RSS of the worker's pool process (it ingests and runs)."""
        import psutil

        try:
            children = psutil.Process(self.worker.pid).children(recursive=True)
        except psutil.Error:
            return None
        peaks = [p for p in (_peak_mb(c.pid) for c in children) if p is not None]
        return max(peaks) if peaks else None

    # -- database reads (the bench polls like the pages do, but without a request) -------
    def query(self, sql: str, *params):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            con.row_factory = sqlite3.Row
            return con.execute(sql, params).fetchone()
        finally:
            con.close()


# ------------------------------------------------------------------------------ one job


@dataclass
class PlatformResult:
    total: float
    stages: dict[str, float] = field(default_factory=dict)
    run_timings: dict[str, float] = field(default_factory=dict)
    pages: list[tuple[float, int]] = field(default_factory=list)
    anomalies: int | None = None
    error: str | None = None
    run_url: str | None = None


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def _csrf(session, url: str) -> str:
    page = session.get(url)
    page.raise_for_status()
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    return m.group(1) if m else session.cookies["csrftoken"]


def _login(url: str):
    import requests

    s = requests.Session()
    login = f"{url}/accounts/login/"
    token = _csrf(s, login)
    r = s.post(
        login,
        data={"login": EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": login},
        allow_redirects=False,
    )
    if r.status_code != 302 or "sessionid" not in s.cookies:
        raise RuntimeError(f"sign-in failed: HTTP {r.status_code}")
    return s


def _poll(fetch, done, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        row = fetch()
        if row is not None and done(row):
            return row, time.time()
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"still {dict(row) if row is not None else None} after {timeout:.0f} s"
            )
        time.sleep(interval)


def run_platform(p: Platform, csv: Path, name: str, timeout: float) -> PlatformResult:
    """Upload → ingest → run start → run finished, timed from the upload request."""
    import requests

    s = _login(p.url)
    base = f"{p.url}/t/{p.setup['slug']}"
    upload_url = f"{base}/datasets/upload/"
    token = _csrf(s, upload_url)
    with open(csv, "rb") as fh:
        # Encode the multipart body before the clock starts: a browser streams the file,
        # it does not spend time building the body in memory first.
        prepared = s.prepare_request(
            requests.Request(
                "POST",
                upload_url,
                data={"csrfmiddlewaretoken": token, "name": name},
                files={"file": (csv.name, fh, "text/csv")},
                headers={"Referer": upload_url},
            )
        )

    t0 = time.time()
    r = s.send(prepared, allow_redirects=False)
    t_uploaded = time.time()
    if r.status_code != 302:
        return PlatformResult(0, error=f"upload: HTTP {r.status_code} {r.text[:200]}")
    dataset_id = int(re.search(r"/datasets/(\d+)/$", r.headers["Location"]).group(1))

    ds, t_ready = _poll(
        lambda: p.query("SELECT status, error FROM datasets_dataset WHERE id=?", dataset_id),
        lambda row: row["status"] != "ingesting",
        timeout,
    )
    if ds["status"] != "ready":
        return PlatformResult(0, error=f"ingest: {ds['status']}: {ds['error'][:200]}")
    version = p.query(
        "SELECT id, rows FROM datasets_datasetversion WHERE dataset_id=? ORDER BY number DESC",
        dataset_id,
    )

    start_url = f"{base}/runs/new/"
    token = _csrf(s, start_url)
    t_start = time.time()
    r = s.post(
        start_url,
        data={
            "csrfmiddlewaretoken": token,
            "dataset_version": version["id"],
            "detector": p.setup["config"],
            "accept_cost": "on",
        },
        headers={"Referer": start_url},
        allow_redirects=False,
    )
    t_started = time.time()
    if r.status_code != 302:
        errors = re.findall(r'<ul class="errorlist[^>]*>(.*?)</ul>', r.text, re.S)
        return PlatformResult(0, error=f"run start: HTTP {r.status_code} {errors}")
    run_id = int(re.search(r"/runs/(\d+)/$", r.headers["Location"]).group(1))
    run, t_seen = _poll(
        lambda: p.query("SELECT * FROM runs_run WHERE id=?", run_id),
        lambda row: row["status"] in ("succeeded", "failed", "cancelled"),
        timeout,
    )
    total = t_seen - t0
    if run["status"] != "succeeded":
        return PlatformResult(total, error=f"run {run['status']}: {run['error'][:200]}")

    timings = json.loads(run["timings"] or "{}")
    began, finished = _ts(run["started_at"]), _ts(run["finished_at"])
    stages = {
        "upload request (send, check, store)": t_uploaded - t0,
        "ingest (queue, parse, profile, Parquet)": t_ready - t_uploaded,
        "start-run request": t_started - t_start,
        "run queued (until a worker took it)": began - _ts(run["created_at"]),
        **{f"run: {k}": v for k, v in timings.items()},
        "run: bookkeeping between stages": (finished - began) - sum(timings.values()),
        "bench: page/poll gaps": (t_start - t_ready)
        + (_ts(run["created_at"]) - t_started)
        + (t_seen - finished),
    }
    results_url = f"{base}/runs/{run_id}/results/"
    pages = []
    for _ in range(2):
        t = time.perf_counter()
        page = s.get(results_url)
        pages.append((time.perf_counter() - t, len(page.content)))
        if page.status_code != 200 or "chart-histogram" not in page.text:
            return PlatformResult(
                total, stages, timings, error=f"results page: HTTP {page.status_code}"
            )
    summary = json.loads(run["summary"] or "{}")
    return PlatformResult(
        total, stages, timings, pages, summary.get("anomalies"), run_url=results_url
    )


# ------------------------------------------------------------------------------ tables


def _table(header: list[str], rows: list[list[str]], numeric: set[int]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row):
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench --only platform", description=__doc__.splitlines()[0]
    )
    p.add_argument("--quick", action="store_true", help="100k-row CSV, one repeat (smoke run)")
    p.add_argument("--rows", type=int, help="rows of the synthetic CSV (default 1,000,000)")
    p.add_argument(
        "--repeat", type=int, help="runs per side; the median is shown (default 3, 1 with --quick)"
    )
    p.add_argument("--only", action="append", help=argparse.SUPPRESS)
    p.add_argument(
        "--timeout", type=float, default=1800, help="seconds to wait for ingest or a run"
    )
    args = p.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (1 if args.quick else 3)
    fit_rows = min(engine.FIT_ROWS, rows)
    csv = engine.make_csv(rows)
    name = job_name(rows)
    print(
        f"pynomaly platform bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {name}: "
        f"{csv.stat().st_size / 1e6:,.0f} MB CSV, IForest fit on a seeded {fit_rows:,}-row sample, "
        f"scaling none; median of {repeat}. Platform = uvicorn + Celery worker (prefork, 1 process) + "
        f"SQLite + embedded Redis, timed from the upload request to the run's finished state.",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="pynomaly-bench-platform-", dir=_tmp_parent()) as tmp:
        tmp = Path(tmp)
        csv_job = next(
            j
            for j in engine.jobs(rows, tmp)
            if j.name.startswith("csv ") and j.name.endswith(DETECTOR)
        )
        print(
            "  starting Redis, migrating SQLite, starting the web server and a Celery worker ...",
            file=sys.stderr,
            flush=True,
        )
        raws, engines, results, repeats = [], [], [], []
        with Platform(tmp / "platform", fit_rows) as platform:
            # Interleaved (raw, engine, platform, raw, …) so drift in the machine's load hits
            # every side alike; the load average is recorded beside each figure.
            for i in range(repeat):
                print(f"  {name} ({i + 1}/{repeat}): raw, engine, platform ...", file=sys.stderr, flush=True)  # fmt: skip
                raws.append(engine.run_child(csv_job.raw))
                raw_load = os.getloadavg()[0]
                engines.append(engine.run_child(csv_job.pynomaly))
                engine_load = os.getloadavg()[0]
                failed = next(
                    (f"{side} failed: {m.error}" for side, m in (("raw", raws[-1]), ("engine", engines[-1])) if m.error),
                    None,
                )  # fmt: skip
                if failed:
                    print(failed, file=sys.stderr)
                    return 1
                res = run_platform(platform, csv, f"bench {i + 1}", args.timeout)
                if res.error:
                    print(
                        f"platform failed: {res.error}; logs in {tmp / 'platform'}", file=sys.stderr
                    )
                    _keep_logs(tmp / "platform")
                    return 1
                results.append(res)
                repeats.append(
                    (raws[-1].seconds, raw_load, engines[-1].seconds, engine_load,
                     res.total, os.getloadavg()[0])
                )  # fmt: skip
            worker_peak, web_peak = platform.worker_peak_mb(), _peak_mb(platform.web.pid)

    print()
    _table(
        ["repeat", "raw s", "load", "engine s", "load", "platform s", "load", "platform/raw"],
        [
            [
                f"{i + 1}/{repeat}",
                f"{r:.2f}",
                f"{rl:.2f}",
                f"{e:.2f}",
                f"{el:.2f}",
                f"{pl_s:.2f}",
                f"{pl:.2f}",
                f"{pl_s / r:.2f}x",
            ]
            for i, (r, rl, e, el, pl_s, pl) in enumerate(repeats)
        ],  # fmt: skip
        numeric=set(range(1, 8)),
    )
    print(
        f"load = 1-minute load average on {os.cpu_count()} CPUs when each figure was taken; "
        "the sides run interleaved, the table below shows the medians"
    )
    rt = statistics.median(m.seconds for m in raws)
    et = statistics.median(m.seconds for m in engines)
    pt = statistics.median(r.total for r in results)
    print()
    _table(
        [
            "job",
            "raw s",
            "engine s",
            "platform s",
            "engine/raw",
            "platform/raw",
            "platform/engine",
            "raw MB",
            "engine MB",
            "worker MB",
            "web MB",
        ],
        [
            [
                name,
                f"{rt:.2f}",
                f"{et:.2f}",
                f"{pt:.2f}",
                f"{et / rt:.2f}x",
                f"{pt / rt:.2f}x",
                f"{pt / et:.2f}x",
                _mb(statistics.median(m.peak_mb for m in raws)),
                _mb(statistics.median(m.peak_mb for m in engines)),
                _mb(worker_peak),
                _mb(web_peak),
            ]
        ],
        numeric=set(range(1, 11)),
    )
    print(
        "raw = python -m bench.raw, engine = pynomaly detect (fresh processes: import, read, fit, score, "
        "write scores as CSV); platform = upload → ingest → run → finished (results stay as Parquet); "
        "worker MB = peak RSS of the pool process over every ingest and run, web MB = the web server's."
    )

    print()
    keys = list(results[len(results) // 2].stages)
    stage_rows = []
    for key in keys:
        secs = statistics.median(r.stages.get(key, 0.0) for r in results)
        stage_rows.append([key, f"{secs:.2f}", f"{100 * secs / pt:.0f}%"])
    stage_rows.append(["total (upload request → finished state seen)", f"{pt:.2f}", "100%"])
    _table(["where the platform's time goes", "s", "share"], stage_rows, numeric={1, 2})

    print()
    first = statistics.median(r.pages[0][0] for r in results)
    second = statistics.median(r.pages[1][0] for r in results)
    size = results[-1].pages[0][1]
    _table(
        ["results page (GET, server-rendered with 4 Plotly figures)", "first s", "second s", "KB"],
        [[f"run of {name}", f"{first:.3f}", f"{second:.3f}", f"{size / 1024:,.0f}"]],
        numeric={1, 2, 3},
    )
    return 0


def _tmp_parent() -> str | None:
    """The bench's own work dir when it has room (uploads of the 1M CSV are ~200 MB, several times)."""
    engine.WORKDIR.mkdir(parents=True, exist_ok=True)
    return str(engine.WORKDIR)


def _keep_logs(src: Path) -> None:
    dst = engine.WORKDIR / "platform-logs"
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for log in src.glob("*.log"):
        shutil.copy(log, dst / log.name)
    print(f"logs copied to {dst}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
