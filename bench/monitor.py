"""A monitor execution on new rows from PostgreSQL beside the engine CLI scoring the same rows.

``python -m bench --monitor-only`` (``make bench BENCH_ARGS=--monitor-only``; ``--rows N``,
default 100,000; ``--repeat R``, default 3; ``--quick``: 20,000 rows, one repeat).

The platform side is what a monitor does on its schedule: a real Celery worker (prefork,
concurrency 1) against a migrated SQLite database and an embedded Redis, a workspace with a
PostgreSQL source (its own database on 127.0.0.1:5432, dropped afterwards; incremental by
an ``id`` watermark) and a monitor scoring with an IForest model fitted by its first
execution (untimed). Each repeat inserts N new rows into the table, then times:

* **cli**: ``pynomaly score MODEL rows.parquet -o out.parquet`` in a fresh process, where
  MODEL is the monitor's own model file and rows.parquet holds exactly the N new rows;
* **monitor**: one execution, from its row being written (the trigger, as beat's tick writes
  it) to its finished state: pull the new rows from PostgreSQL, store them as a version
  (hash, profile, Parquet), drift against the training rows, then the run (load, score with
  the model, write results) and the execution's figures.

The two run interleaved (cli, monitor, cli, monitor …) with the load average beside each
figure; the medians give the ratio (target ≤ 1.3×) and a table says where the monitor's
time goes, from the timestamps the execution, its version and its run record.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import engine
from bench.platform import Platform, _table, _tmp_parent

ROOT = engine.ROOT
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
COLS = 10
TARGET = 1.3

SETUP = r"""
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from apps.detectors.services import detector_config_create
from apps.monitors.services import MonitorInput, monitor_create
from apps.sources.services import source_create
from apps.tenants.services import tenant_create
from pynomaly.detect import PipelineConfig
from pynomaly.prepare import PrepareOptions

url, table, fit_rows, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
user = get_user_model().objects.create_user(username="bench", email="bench@example.com")
tenant = tenant_create(name="Bench", owner=user)
pipeline = PipelineConfig(detectors=(("iforest", {}),), prepare=PrepareOptions(scaling="none"),
                          seed=seed, max_fit_rows=fit_rows, exclude_columns=("id",)).to_dict()
config = detector_config_create(tenant=tenant, user=user, name="IForest (bench)", pipeline=pipeline)
source = source_create(tenant=tenant, user=user,
                       data={"name": "bench source", "url": url, "table": table,
                             "watermark_column": "id"})
monitor = monitor_create(tenant=tenant, user=user, data=MonitorInput(
    name="bench monitor", source=source, detector_version=config.current, interval_seconds=86400))
print(json.dumps({"monitor": monitor.pk}))
"""

TRIGGER = r"""
import sys
import django
django.setup()
from apps.monitors.models import Monitor
from apps.monitors.services import monitor_trigger
execution = monitor_trigger(monitor=Monitor.objects.get(pk=int(sys.argv[1])), trigger="schedule")
print(execution.pk)
"""


class _PgSource:
    """A PostgreSQL database and login role of the bench's own, with one table of floats."""

    def __init__(self) -> None:
        self.name = f"pyn_bench_monitor_{os.getpid()}"
        self.password = "bench-monitor-secret"
        self.table = "readings"
        self.rows = 0

    @property
    def url(self) -> str:
        return f"postgresql://{self.name}:{self.password}@127.0.0.1:5432/{self.name}"

    def __enter__(self) -> _PgSource:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'.encode())
            c.execute(f'DROP ROLE IF EXISTS "{self.name}"'.encode())
            c.execute(f"CREATE ROLE \"{self.name}\" LOGIN PASSWORD '{self.password}'".encode())
            c.execute(f'CREATE DATABASE "{self.name}" OWNER "{self.name}"'.encode())
        cols = ", ".join(f"x{i} DOUBLE PRECISION" for i in range(COLS))
        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute(f"CREATE TABLE {self.table} (id BIGSERIAL PRIMARY KEY, {cols})".encode())
        return self

    def __exit__(self, *exc) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'.encode())
            c.execute(f'DROP ROLE IF EXISTS "{self.name}"'.encode())

    def insert(self, rows: int, seed: int, parquet: Path) -> None:
        """Append ``rows`` seeded rows (1 % shifted) and write exactly them to ``parquet``."""
        import numpy as np
        import pandas as pd
        import psycopg

        from pynomaly.data import write_parquet

        rng = np.random.default_rng(seed)
        X = rng.standard_normal((rows, COLS))
        X[rng.random(rows) < 0.01] += 6.0
        names = [f"x{i}" for i in range(COLS)]
        with psycopg.connect(self.url, autocommit=True) as c:
            with c.cursor().copy(
                f"COPY {self.table} ({', '.join(names)}) FROM STDIN".encode()
            ) as copy:
                for row in X.tolist():
                    copy.write_row(row)
        frame = pd.DataFrame(X, columns=names)
        frame.insert(0, "id", np.arange(self.rows + 1, self.rows + rows + 1, dtype=np.int64))
        self.rows += rows
        write_parquet(frame, parquet)


def _ts(value: str | None) -> float:
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp() if value else 0.0


class _Stack(Platform):
    """The platform bench's services without the web server (a monitor needs none)."""

    def __init__(self, workdir: Path, fit_rows: int, source: _PgSource):
        super().__init__(workdir, fit_rows)
        self.source = source

    def __enter__(self) -> _Stack:
        from pynomaly_web import embedded_redis

        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.redis, redis_url = embedded_redis.start()
            self.env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
                "DATABASE_URL": f"sqlite:///{self.db}",
                "REDIS_URL": redis_url,
                "MEDIA_ROOT": str(self.workdir / "media"),
                "CELERY_QUEUE": "bench-monitor",
                "PYNOMALY_OUTBOUND_ALLOW": "127.0.0.0/8",
                "DEBUG": "false",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
            self._call(["manage.py", "migrate", "--noinput", "-v", "0"])
            out = self._call(
                [
                    "-c",
                    SETUP,
                    self.source.url,
                    self.source.table,
                    str(self.fit_rows),
                    str(engine.SEED),
                ]
            )
            self.monitor_id = json.loads(out.strip().splitlines()[-1])["monitor"]
            self._start_worker()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def execute(self, timeout: float) -> dict:
        """Trigger one execution and wait for its terminal state; its timestamps and figures."""
        execution_id = int(
            self._call(["-c", TRIGGER, str(self.monitor_id)]).strip().splitlines()[-1]
        )
        deadline = time.monotonic() + timeout
        while True:
            row = self.query("SELECT * FROM monitors_monitorexecution WHERE id=?", execution_id)
            if row["status"] in ("succeeded", "failed", "skipped"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution still {row['status']} after {timeout:.0f} s")
            time.sleep(0.05)
        out = dict(row)
        if row["run_id"]:
            out["run"] = dict(self.query("SELECT * FROM runs_run WHERE id=?", row["run_id"]))
        if row["dataset_version_id"]:
            out["version"] = dict(
                self.query(
                    "SELECT created_at, rows FROM datasets_datasetversion WHERE id=?",
                    row["dataset_version_id"],
                )
            )
        return out

    def model_file(self) -> tuple[Path, str]:
        row = self.query(
            "SELECT m.artifact, m.sha256 FROM detectors_trainedmodel m "
            "JOIN monitors_monitor mo ON mo.model_id = m.id WHERE mo.id=?",
            self.monitor_id,
        )
        return self.workdir / "media" / row["artifact"], row["sha256"]


def _stages(e: dict) -> dict[str, float]:
    run, version = e["run"], e["version"]
    created, started = _ts(e["created_at"]), _ts(e["started_at"])
    v_at, r_created = _ts(version["created_at"]), _ts(run["created_at"])
    r_started, r_finished = _ts(run["started_at"]), _ts(run["finished_at"])
    timings = json.loads(run["timings"] or "{}")
    return {
        "execution queued (trigger → worker)": started - created,
        "pull PostgreSQL → version (read, hash, profile, Parquet)": v_at - started,
        "drift vs training rows, refit decision, run start": r_created - v_at,
        "run queued (until the worker took it)": r_started - r_created,
        **{f"run: {k}": v for k, v in timings.items()},
        "run: bookkeeping between stages": (r_finished - r_started) - sum(timings.values()),
        "execution figures and signal": _ts(e["finished_at"]) - r_finished,
    }


def _cli_seconds(stdout: str) -> dict[str, float]:
    """The cli's ``time: load 0.41s   score 1.20s   write 0.10s`` line as a dict."""
    for line in stdout.splitlines():
        if line.startswith("time: "):
            parts = line[len("time: ") :].split()
            return {parts[i]: float(parts[i + 1].rstrip("s")) for i in range(0, len(parts) - 1, 2)}
    return {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench --monitor-only", description=__doc__.splitlines()[0]
    )
    p.add_argument("--rows", type=int, help="new rows per execution (default 100,000)")
    p.add_argument("--repeat", type=int, help="pairs to run; medians shown (default 3)")
    p.add_argument("--quick", action="store_true", help="20,000 rows, one pair (smoke run)")
    p.add_argument("--timeout", type=float, default=900)
    args, _ = p.parse_known_args(argv)
    rows = args.rows or (20_000 if args.quick else 100_000)
    repeat = args.repeat or (1 if args.quick else 3)
    fit_rows = min(engine.FIT_ROWS, rows)
    print(
        f"pynomaly monitor bench: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
        f"{rows:,} new rows x {COLS} floats per execution from PostgreSQL, IForest (scaling none, "
        f"fit on {fit_rows:,} rows by the first, untimed, execution); median of {repeat}. "
        "Monitor = Celery worker (prefork, 1 process) + SQLite + embedded Redis; "
        "cli = pynomaly score with the monitor's model on the same rows as Parquet.",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="pynomaly-bench-monitor-", dir=_tmp_parent()) as tmp:
        tmp = Path(tmp)
        with _PgSource() as source, _Stack(tmp / "platform", fit_rows, source) as stack:
            print("  first execution (fits the model; untimed) ...", file=sys.stderr, flush=True)
            source.insert(rows, 0, tmp / "initial.parquet")
            first = stack.execute(args.timeout)
            if first["status"] != "succeeded":
                print(f"first execution {first['status']}: {first['error']}", file=sys.stderr)
                return 1
            model, sha256 = stack.model_file()
            pairs, executions, cli_work = [], [], []
            for i in range(repeat):
                print(
                    f"  pair {i + 1}/{repeat}: insert, cli, monitor ...",
                    file=sys.stderr,
                    flush=True,
                )
                parquet = tmp / f"new-{i}.parquet"
                source.insert(rows, i + 1, parquet)
                cli = engine.run_child(
                    ["-m", "pynomaly", "score", str(model), str(parquet), "--sha256", sha256,
                     "-o", str(tmp / f"cli-{i}.parquet")]
                )  # fmt: skip
                cli_load = os.getloadavg()[0]
                if cli.error:
                    print(f"cli failed: {cli.error}", file=sys.stderr)
                    return 1
                e = stack.execute(args.timeout)
                if e["status"] != "succeeded" or e["rows"] != rows or e["retrained"]:
                    print(
                        f"execution {e['status']} ({e['rows']} rows): {e['error']}", file=sys.stderr
                    )
                    return 1
                total = _ts(e["finished_at"]) - _ts(e["created_at"])
                executions.append(e)
                pairs.append((cli.seconds, cli_load, total, os.getloadavg()[0]))
                cli_work.append(_cli_seconds(cli.stdout))

    print()
    _table(
        ["pair", "cli s", "load", "monitor s", "load", "monitor/cli"],
        [
            [f"{i + 1}/{repeat}", f"{c:.2f}", f"{cl:.2f}", f"{m:.2f}", f"{ml:.2f}", f"{m / c:.2f}x"]
            for i, (c, cl, m, ml) in enumerate(pairs)
        ],  # fmt: skip
        numeric=set(range(1, 6)),
    )
    ct = statistics.median(c for c, *_ in pairs)
    mt = statistics.median(m for _, _, m, _ in pairs)
    verdict = "meets" if mt / ct <= TARGET else "misses"
    print(
        f"load = 1-minute load average on {os.cpu_count()} CPUs after each figure\n"
        f"median: cli {ct:.2f} s, monitor execution {mt:.2f} s, ratio {mt / ct:.2f}x "
        f"({verdict} the {TARGET}x target)"
    )
    print()
    stages = [_stages(e) for e in executions]
    rows_out = [
        [key, f"{statistics.median(s[key] for s in stages):.2f}",
         f"{100 * statistics.median(s[key] for s in stages) / mt:.0f}%"]
        for key in stages[len(stages) // 2]
    ]  # fmt: skip
    rows_out.append(["total (execution written → finished)", f"{mt:.2f}", "100%"])
    _table(["where the monitor's time goes", "s", "share"], rows_out, numeric={1, 2})
    work = [w for w in cli_work if w]
    if work:
        keys = list(work[0])
        print()
        _table(
            ["where the cli's time goes (its own report)", "s", "share"],
            [[k, f"{statistics.median(w.get(k, 0.0) for w in work):.2f}",
              f"{100 * statistics.median(w.get(k, 0.0) for w in work) / ct:.0f}%"] for k in keys]
            + [["interpreter start and imports (the rest)",
                f"{ct - statistics.median(sum(w.values()) for w in work):.2f}",
                f"{100 * (1 - statistics.median(sum(w.values()) for w in work) / ct):.0f}%"]],
            numeric={1, 2},
        )  # fmt: skip
        inner = statistics.median(sum(w.values()) for w in work)
        print(
            f"against the cli's own load+score+write ({inner:.2f} s, no interpreter start): "
            f"monitor/cli {mt / inner:.2f}x"
        )
    anomalies = [e["anomalies"] for e in executions]
    drift = [json.loads(e["drift"] or "{}").get("detected") for e in executions]
    print(f"\nanomalies per execution: {anomalies}; drift detected: {drift}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
