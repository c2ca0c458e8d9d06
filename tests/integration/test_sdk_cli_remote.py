"""The SDK and the remote CLI against the real stack: Daphne serving the app, a real Celery
worker, the test database. Upload → ingest → configure → run → results → score."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.web.runs.factories import blobs, make_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = {
    "detectors": [{"key": "iforest", "params": {"n_estimators": 50}}],
    "threshold": {"kind": "contamination", "value": 0.05},
}


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


@pytest.fixture
def write_token(alice, tenant_a):
    from apps.api.services import token_create

    _token, raw = token_create(user=alice, tenant=tenant_a, name="sdk tests", scope="write")
    return raw


@pytest.fixture
def data_csv(tmp_path) -> Path:
    path = tmp_path / "sensors.csv"
    blobs(600).to_csv(path, index=False)
    return path


def test_the_sdk_uploads_runs_and_fetches_every_result_row(
    live_media, asgi_server, celery_worker, write_token, data_csv
):
    from pynomaly.client import Client, NotFound, ValidationError

    with Client(asgi_server.url, write_token) as api:
        assert api.me().email == "alice@example.com"

        dataset = api.datasets.upload(data_csv, name="sensors", progress=False).wait(
            poll=0.2, timeout=60
        )
        assert dataset.status == "ready" and dataset.latest_version.rows == 600

        config = api.detector_configs.create("forest", PIPELINE)
        run = api.runs.start(
            dataset_id=dataset.id, detector_config_id=config.id, label_column="is_anomaly"
        )
        assert run.status in ("queued", "running")
        run.wait(poll=0.2, timeout=120, progress=False)

        assert run.status == "succeeded" and run.percent == 100
        assert run.metrics["roc_auc"] > 0.9
        frame = api.runs.results(run.id, page_size=250)  # three pages
        assert len(frame) == 600 == dataset.latest_version.rows
        assert sorted(frame["row_id"]) == list(range(600))
        assert int(frame["label"].sum()) == run.summary["anomalies"]

        model = api.models.get(run.trained_model_id)
        scored = api.models.score(model.id, blobs(5, label=False).to_dict("records"))
        assert len(scored.scores) == 5 and scored.threshold == pytest.approx(model.threshold)

        with pytest.raises(NotFound):
            api.runs.get(999_999)
        with pytest.raises(ValidationError) as caught:
            api.models.score(model.id, [{"a": 1.0}])
        assert "'b'" in caught.value.detail


def pynomaly(*args, env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pynomaly", *map(str, args)],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_cli_logs_in_uploads_runs_fetches_and_scores(
    live_media, asgi_server, celery_worker, write_token, data_csv, tmp_path, alice, tenant_a
):
    config_file = tmp_path / "home" / "pynomaly" / "config.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYNOMALY_CONFIG": str(config_file)}
    for name in ("PYNOMALY_URL", "PYNOMALY_TOKEN"):
        env.pop(name, None)

    login = pynomaly("login", asgi_server.url, "--token", write_token, env=env)
    assert login.returncode == 0, login.stderr
    assert "alice@example.com" in login.stdout
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600

    upload = pynomaly("datasets", "upload", data_csv, "--name", "sensors", "--wait", env=env)
    assert upload.returncode == 0, upload.stderr
    assert "600 rows" in upload.stdout
    dataset_id = int(upload.stdout.split()[1])

    listed = pynomaly("datasets", "list", env=env)
    assert listed.returncode == 0 and "sensors" in listed.stdout

    config = make_config(tenant_a, alice, name="cli forest")

    started = pynomaly(
        "runs", "start", "--dataset", dataset_id, "--detector-config", config.pk,
        "--label-column", "is_anomaly", "--watch", env=env,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert "succeeded" in started.stdout and "rows 600" in started.stdout
    run_id = int(started.stdout.split()[1])
    model_id = int(started.stdout.rsplit("model ", 1)[1].split()[0])

    out = tmp_path / "scores.parquet"
    results = pynomaly("runs", "results", run_id, "-o", out, env=env)
    assert results.returncode == 0, results.stderr
    assert len(pd.read_parquet(out)) == 600
    anomalies = tmp_path / "anomalies.csv"
    only = pynomaly("runs", "results", run_id, "--only-anomalies", "-o", anomalies, env=env)
    assert only.returncode == 0, only.stderr
    flagged = pd.read_csv(anomalies)
    assert 0 < len(flagged) < 600 and set(flagged["predicted_anomaly"]) == {1}
    assert flagged["reasons"].notna().all()

    records = tmp_path / "records.jsonl"
    records.write_text(
        "".join(json.dumps(r) + "\n" for r in blobs(4, label=False).to_dict("records"))
    )
    scored_file = tmp_path / "scored.jsonl"
    scored = pynomaly("score", model_id, records, "-o", scored_file, env=env)
    assert scored.returncode == 0, scored.stderr
    lines = [json.loads(x) for x in scored_file.read_text().splitlines()]
    assert len(lines) == 4 and all({"score", "label", "severity"} <= set(x) for x in lines)

    # Refusals: the server's detail, no traceback, exit 2; a missing run: exit 2 as well.
    records.write_text('{"a": 1.0}\n')
    bad = pynomaly("score", model_id, records, env=env)
    assert bad.returncode == 2 and "error: record 0 has no value for column 'b'" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = pynomaly("runs", "watch", 999_999, env=env)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")

    assert pynomaly("logout", env=env).returncode == 0
    assert not config_file.exists()
    after = pynomaly("datasets", "list", env=env)
    assert after.returncode == 2 and "pynomaly login" in after.stderr


def test_the_cli_fine_tunes_a_deep_run_from_a_trained_model_on_the_server(
    live_media, asgi_server, celery_worker, write_token, data_csv, tmp_path, alice, tenant_a
):
    from apps.runs.models import Run

    config_file = tmp_path / "home" / "pynomaly" / "config.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYNOMALY_CONFIG": str(config_file)}
    for name in ("PYNOMALY_URL", "PYNOMALY_TOKEN"):
        env.pop(name, None)
    assert pynomaly("login", asgi_server.url, "--token", write_token, env=env).returncode == 0
    upload = pynomaly("datasets", "upload", data_csv, "--name", "sensors", "--wait", env=env)
    assert upload.returncode == 0, upload.stderr
    dataset_id = int(upload.stdout.split()[1])
    ae = (("autoencoder", {"epoch_num": 2}),)
    config = make_config(tenant_a, alice, name="cli ae", detectors=ae)

    def start(*extra):
        return pynomaly(
            "runs", "start", "--dataset", dataset_id, "--detector-config", config.pk,
            "--label-column", "is_anomaly", *extra, env=env,
        )  # fmt: skip

    base = start("--watch")
    assert base.returncode == 0, base.stderr
    model_id = int(base.stdout.rsplit("model ", 1)[1].split()[0])

    tuned = start("--from-model", model_id, "--watch")
    assert tuned.returncode == 0, tuned.stderr
    assert "succeeded" in tuned.stdout
    run = Run.objects.get(pk=int(tuned.stdout.split()[1]))
    assert run.base_model_id == model_id
    assert run.trained_model.pk != model_id

    # a model id the tenant does not have: a clear message, exit != 0, no traceback
    missing = start("--from-model", 999_999)
    assert missing.returncode != 0
    assert "model" in missing.stderr.lower() and "Traceback" not in missing.stderr
