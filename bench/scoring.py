"""Online scoring through the real stack against PyOD's own ``decision_function``.

A fresh SQLite database is migrated and seeded in a child process (a user, a workspace,
a read token, an IForest trained with the engine and registered as a TrainedModel via
the ORM); Daphne then serves the app on it, and this process sends single-record and
1,000-record requests over one keep-alive session, timing each round trip. The raw side
loads the same saved IForest in this process and times ``decision_function`` on the same
records. Everything lives in a temporary folder; an embedded Redis starts when
``REDIS_URL`` is unset (the API's rate limits count there).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [f"x{i}" for i in range(10)]
TRAIN_ROWS = 20_000
BATCH = 1_000
SEED = 42
P99_TARGET_MS = 15.0
THROUGHPUT_TARGET = 0.80


# ------------------------------------------------------------ setup (child process)


def setup(media: str) -> dict:
    """Migrate, seed and register a trained IForest; runs with Django in its own process."""
    import django

    django.setup()
    import pandas as pd
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from apps.api.services import token_create
    from apps.datasets.models import Dataset, DatasetVersion
    from apps.detectors.models import TrainedModel
    from apps.detectors.services import detector_config_create, pipeline_build
    from apps.runs.models import Run
    from apps.tenants.services import tenant_create
    from pynomaly import persist
    from pynomaly.data import write_parquet
    from pynomaly.detect import PipelineConfig, fit

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user(
        username="bench", email="bench@example.com", password="bench-password-123"
    )
    tenant = tenant_create(name="Bench", owner=user)
    _token, raw_token = token_create(user=user, tenant=tenant, name="bench", scope="read")

    frame = pd.DataFrame(training_data(), columns=COLUMNS)
    parquet = Path(media) / "datasets" / "bench.parquet"
    parquet.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(frame, parquet)
    dataset = Dataset.objects.create(tenant=tenant, name="bench", status=Dataset.Status.READY)
    version = DatasetVersion.objects.create(
        tenant=tenant, dataset=dataset, number=1, sha256="0" * 64, original="datasets/bench.parquet",
        original_name="bench.parquet", format="parquet", size=parquet.stat().st_size,
        parquet="datasets/bench.parquet", rows=len(frame), columns=len(COLUMNS),
        schema=[{"name": c, "dtype": "float64"} for c in COLUMNS],
    )  # fmt: skip
    pipeline = pipeline_build(
        detectors=[("iforest", {})], prepare={"scaling": "none"}, threshold_value=0.01, seed=SEED
    )
    config = detector_config_create(
        tenant=tenant, user=user, name="bench forest", pipeline=pipeline
    )
    fitted = fit(frame, PipelineConfig.from_dict(pipeline))
    model_path = Path(media) / "models" / "bench.skops"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    digest = persist.save(fitted, model_path)
    run = Run.objects.create(
        tenant=tenant, dataset_version=version, detector_version=config.current,
        status=Run.Status.SUCCEEDED, percent=100, threshold=float(fitted.threshold_),
    )  # fmt: skip
    model = TrainedModel.objects.create(
        tenant=tenant, run=run, detector_version=config.current, artifact="models/bench.skops",
        sha256=digest, feature_names=list(fitted.feature_names),
        input_columns=list(fitted.preparer.input_columns), threshold=float(fitted.threshold_),
    )  # fmt: skip
    return {"token": raw_token, "model_id": model.pk, "model_path": str(model_path)}


def training_data(rows: int = TRAIN_ROWS, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, len(COLUMNS)))
    X[rng.random(rows) < 0.01] += 6.0
    return X


# ------------------------------------------------------------------- the stack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """Temporary DB + media, Redis (embedded unless REDIS_URL), seeded data, Daphne."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="pynomaly-bench-scoring-")
        self.redis = None
        self.web: subprocess.Popen | None = None
        self.url = ""
        self.seed: dict = {}

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        tmp = Path(self.tmp.name)
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            from pynomaly_web import embedded_redis

            self.redis, redis_url = embedded_redis.start()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(tmp / "media"),
            "REDIS_URL": redis_url,
            "DEBUG": "false",
            # the bench measures scoring, not the limiter
            "API_RATE_PER_TOKEN": "1000000/min",
            "API_RATE_PER_IP": "1000000/min",
            "PYTHONPATH": str(ROOT),
        }
        done = subprocess.run(
            [sys.executable, "-m", "bench.scoring", "--setup", env["MEDIA_ROOT"]],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError("setup failed: " + done.stderr.strip()[-1500:])
        self.seed = json.loads(done.stdout.strip().splitlines()[-1])
        port = _free_port()
        self.web = subprocess.Popen(
            [sys.executable, "-m", "pynomaly_web.serve", "--port", str(port), "--no-access-log"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if self.web.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the web server did not start") from None
                time.sleep(0.1)
        self.url = f"http://127.0.0.1:{port}"

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
        self.tmp.cleanup()


# ------------------------------------------------------------------- measuring


def _stats(seconds: list[float], records_per_call: int) -> dict:
    ms = np.asarray(seconds) * 1000
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "rps": records_per_call * len(seconds) / float(np.sum(seconds)),
    }


def measure(stack: Stack, singles: int, batches: int) -> dict[str, dict]:
    from pynomaly import persist
    from pynomaly.client import Client

    rng = np.random.default_rng(SEED)
    pool = training_data(max(singles, BATCH * 2), seed=1)
    records = [dict(zip(COLUMNS, map(float, row), strict=True)) for row in pool]
    model_id = stack.seed["model_id"]
    path = f"/models/{model_id}/score"

    out: dict[str, dict] = {}
    with Client(stack.url, stack.seed["token"], timeout=60) as api:

        def call(batch: list[dict]) -> float:
            t0 = time.perf_counter()
            body = api.request("POST", path, json_body={"records": batch}).json()
            elapsed = time.perf_counter() - t0
            assert len(body["scores"]) == len(batch)
            return elapsed

        for i in range(20):  # the first request loads the model; then steady state
            call([records[i]])
        call(records[:BATCH])
        out["api_single"] = _stats([call([records[i % len(records)]]) for i in range(singles)], 1)
        starts = rng.integers(0, len(records) - BATCH, size=batches)
        out["api_batch"] = _stats([call(records[s : s + BATCH]) for s in starts], BATCH)

    def encode(batch: list[dict]) -> float:  # the client's share of a batch round trip
        t0 = time.perf_counter()
        json.dumps({"records": batch}, allow_nan=False)
        return time.perf_counter() - t0

    out["client_json"] = _stats([encode(records[s : s + BATCH]) for s in starts], BATCH)

    estimator = persist.load(stack.seed["model_path"]).detectors_[0]
    X = np.ascontiguousarray(pool, dtype=np.float64)

    def raw(rows: np.ndarray) -> float:
        t0 = time.perf_counter()
        estimator.decision_function(rows)
        return time.perf_counter() - t0

    for i in range(5):
        raw(X[i : i + 1])
    out["raw_single"] = _stats([raw(X[i % len(X) : i % len(X) + 1]) for i in range(singles)], 1)
    out["raw_batch"] = _stats([raw(X[s : s + BATCH]) for s in starts], BATCH)
    return out


HEADER = [
    "online scoring (IForest, 100 trees, 10 columns)",
    "p50 ms",
    "p99 ms",
    "records/s",
    "note",
]


def rows(results: dict[str, dict], singles: int, batches: int) -> list[list[str]]:
    def row(label: str, s: dict, note: str = "") -> list[str]:
        return [label, f"{s['p50']:.2f}", f"{s['p99']:.2f}", f"{s['rps']:,.0f}", note]

    single, batch = results["api_single"], results["api_batch"]
    share = batch["rps"] / results["raw_batch"]["rps"]
    p99_ok = "ok" if single["p99"] <= P99_TARGET_MS else "MISSED"
    share_ok = "ok" if share >= THROUGHPUT_TARGET else "MISSED"
    return [
        row(f"API POST /score, 1 record x {singles}", single,
            f"p99 target <= {P99_TARGET_MS:g} ms: {p99_ok}"),
        row(f"raw decision_function, 1 row x {singles}", results["raw_single"]),
        row(f"API POST /score, {BATCH:,} records x {batches}", batch,
            f"{share:.0%} of raw throughput (target >= {THROUGHPUT_TARGET:.0%}): {share_ok}"),
        row(f"raw decision_function, {BATCH:,} rows x {batches}", results["raw_batch"]),
        row(f"  of the API batch: client json.dumps of {BATCH:,} records", results["client_json"],
            "counted in the API round trip above"),
    ]  # fmt: skip


def print_table(table: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [HEADER, *table]) for i in range(len(HEADER))]

    def fmt(r):
        return "  ".join(
            c.rjust(w) if 0 < i < len(HEADER) - 1 else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    print(fmt(HEADER))
    print("  ".join("-" * w for w in widths[:-1]))
    for r in table:
        print(fmt(r))


def main(argv: list[str] | None = None, *, quick: bool = False) -> int:
    singles, batches = (100, 20) if quick else (300, 50)
    print(
        "\nonline scoring: the web server (uvicorn) + Django API on SQLite, one keep-alive session, round trips "
        "timed by the client; raw = PyOD IForest.decision_function in this process",
        flush=True,
    )
    print("  running online scoring ...", file=sys.stderr, flush=True)
    try:
        with Stack() as stack:
            results = measure(stack, singles, batches)
    except Exception as exc:
        print(f"online scoring failed: {type(exc).__name__}: {exc}")
        return 1
    print_table(rows(results, singles, batches))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"load average after the run: {load} on {os.cpu_count()} CPUs (other work on the machine skews p99)"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--setup":
        print(json.dumps(setup(sys.argv[2])))
        sys.exit(0)
    sys.exit(main(quick="--quick" in sys.argv[1:]))
