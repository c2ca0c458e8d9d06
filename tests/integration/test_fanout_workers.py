"""A large run spread over a real Celery worker's two processes: parts scored by both,
merged into the scores one process gives (the engine's own ``detect`` here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import _test_database_url, delete_broker_queue
from tests.web.runs.factories import blobs, make_config, make_run, make_version

pytestmark = [pytest.mark.integration, pytest.mark.celery]

ROOT = Path(__file__).resolve().parents[2]
ROWS, FIT_ROWS, CHUNK, PART = 24_000, 4_000, 1_000, 4_000  # 6 parts of 4 chunks


@pytest.fixture
def two_process_worker(transactional_db, settings, tmp_path):
    from pynomaly_web.celery import app

    settings.MEDIA_ROOT = str(tmp_path / "media")
    queue = f"fanout-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": app.conf.broker_url,
        "MEDIA_ROOT": settings.MEDIA_ROOT,
        "CELERY_QUEUE": queue,
        "RUN_CHUNK_ROWS": str(CHUNK),
        "RUN_FANOUT_PART_ROWS": str(PART),
        "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
    }
    log = tmp_path / "worker.log"
    argv = [sys.executable, "-m", "celery", "-A", "pynomaly_web", "worker", "--pool=prefork"]
    argv += ["--concurrency=2", "-Q", queue, "-n", f"{queue}@%h", "--loglevel=INFO"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while b" ready." not in log.read_bytes():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    yield queue, log
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    delete_broker_queue(queue)


def test_a_large_run_is_scored_by_both_worker_processes_with_the_one_process_scores(
    alice, tenant_a, two_process_worker
):
    from apps.runs.models import Run
    from apps.runs.tasks import execute_run
    from pynomaly.detect import PipelineConfig, detect

    queue, log = two_process_worker
    frame = blobs(ROWS, anomalies=200)
    version = make_version(tenant_a, frame)
    # KNN: each part takes long enough (about a second) that the idle process takes parts
    config = make_config(tenant_a, alice, detectors=(("knn", {}),))
    run = make_run(
        tenant_a, alice, version, config, label_column="is_anomaly", max_fit_rows=FIT_ROWS
    )
    execute_run.apply_async(args=[run.pk], queue=queue)

    deadline = time.monotonic() + 240
    while True:
        run.refresh_from_db()
        if run.is_terminal:
            break
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    assert run.status == Run.Status.SUCCEEDED, (run.error, log.read_text()[-3000:])
    assert run.summary["fanout"] == {"parts": 6, "workers": 2}, log.read_text()[-3000:]

    pipeline = PipelineConfig.from_dict(
        {**config.current.pipeline, "max_fit_rows": FIT_ROWS, "exclude_columns": ["is_anomaly"]}
    )
    _, engine = detect(frame, pipeline, chunk_size=CHUNK)
    platform = pd.read_parquet(run.results.path).sort_values("row_id")
    np.testing.assert_array_equal(platform["score"].to_numpy(), engine.scores)
    np.testing.assert_array_equal(platform["label"].to_numpy(), engine.labels)
    assert run.threshold == engine.threshold
    assert not list((Path(run.results.storage.location) / "fanout").glob("*/*"))
