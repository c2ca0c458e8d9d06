"""Stored files in an S3 bucket (django-storages) on a local S3 server: the whole flow.

Upload → ingest → run → results page, downloads and charts, and a run spread in parts,
all with ``STORAGES["default"]`` on the ``s3_storage`` fixture's bucket; nothing may be
written under MEDIA_ROOT.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from django.urls import reverse

from apps.runs.models import Run
from apps.runs.tasks import execute_run
from tests.conftest import ROOT, delete_broker_queue
from tests.web.datasets.helpers import ingest_latest, post_file
from tests.web.runs.factories import blobs, make_config, make_run


@pytest.fixture(autouse=True)
def _quiet(settings):
    settings.RUN_HEARTBEAT_SECONDS = 3600


def _upload(client, tenant, tmp_path, frame: pd.DataFrame, name: str):
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    response = post_file(client, tenant, path, name=name)
    assert response.status_code == 302, response.content[:500]
    upload = ingest_latest(name)
    assert upload.status == "done", upload.error
    return upload.dataset.latest_version


def _run_url(name: str, run, **kwargs) -> str:
    return reverse(
        f"runs:{name}", kwargs={"tenant_slug": run.tenant.slug, "run_id": run.pk, **kwargs}
    )


def test_settings_put_stored_files_in_the_bucket_and_keep_the_secret_out(tmp_path):
    env = {
        **os.environ,
        "STORAGE_S3_BUCKET": "pynomaly-files",
        "STORAGE_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "STORAGE_S3_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "never-in-the-settings-0123456789",
    }
    out = subprocess.run(
        [sys.executable, "manage.py", "diffsettings", "--all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "storages.backends.s3.S3Storage" in out
    assert "'bucket_name': 'pynomaly-files'" in out
    assert "'endpoint_url': 'http://127.0.0.1:9000'" in out
    assert "'querystring_auth': False" in out
    assert "'default_acl': 'private'" in out
    assert "django.contrib.staticfiles.storage.StaticFilesStorage" in out  # static stays local
    assert "never-in-the-settings" not in out


def test_upload_ingest_run_results_and_downloads_all_on_s3(
    s3_storage, alice_client, charlie_client, alice, tenant_a, tmp_path
):
    frame = blobs(400, anomalies=20, label=True)
    version = _upload(alice_client, tenant_a, tmp_path, frame, "sensors")
    assert version.rows == 400
    keys = s3_storage.keys()
    assert version.parquet.name in keys and version.original.name in keys

    # the original file comes back through the tenant-checked view, not a bucket URL
    download = reverse(
        "datasets:download",
        kwargs={"tenant_slug": tenant_a.slug, "pk": version.dataset_id, "number": version.number},
    )
    response = alice_client.get(download)
    assert response.status_code == 200
    assert pd.read_csv(io.BytesIO(b"".join(response.streaming_content))).shape == (400, 4)
    ids = {"tenant_slug": tenant_a.slug, "pk": version.dataset_id, "number": version.number}
    for page in ("version", "preview"):  # the profile and the first rows, read from the bucket
        response = alice_client.get(reverse(f"datasets:{page}", kwargs=ids))
        assert response.status_code == 200, page
    assert b"is_anomaly" in response.content

    config = make_config(tenant_a, alice)
    run = make_run(tenant_a, alice, version, config, label_column="is_anomaly")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error

    keys = s3_storage.keys()
    assert run.results.name in keys
    assert run.trained_model.artifact.name in keys  # the fitted model is in the bucket
    assert run.trained_model.artifact.name.endswith(".skops")

    page = alice_client.get(_run_url("results", run))
    assert page.status_code == 200
    assert b"anomalies-table" in page.content

    csv = alice_client.get(_run_url("download_csv", run) + "?data=1")
    assert csv.status_code == 200
    table = pd.read_csv(io.BytesIO(b"".join(csv.streaming_content)))
    assert len(table) == 400
    assert {"row_id", "score", "predicted_anomaly", "a", "b", "c"} <= set(table.columns)
    assert table["predicted_anomaly"].sum() == (table["score"] > run.threshold).sum() > 0

    parquet = alice_client.get(_run_url("download_parquet", run))
    assert parquet.status_code == 200
    assert len(pd.read_parquet(io.BytesIO(b"".join(parquet.streaming_content)))) == 400

    from apps.runs import figures

    chart = alice_client.get(figures.url(run, "histogram"))
    assert chart.status_code == 200
    assert json.loads(chart.content)["data"]

    # another tenant gets nothing of it, however the files are stored
    assert charlie_client.get(_run_url("download_csv", run)).status_code == 404
    assert charlie_client.get(download).status_code == 404

    assert not s3_storage.media_root.exists()  # nothing on local disk


@pytest.fixture
def part_queue(settings):
    from pynomaly_web.celery import app

    settings.RUN_FANOUT_QUEUE = name = f"s3-fanout-parts-{os.getpid()}"
    settings.RUN_CHUNK_ROWS = 250
    yield name
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(name)
    delete_broker_queue(name)


def test_a_run_spread_in_parts_on_s3_succeeds_and_leaves_no_parts(
    s3_storage, part_queue, alice_client, alice, tenant_a, tmp_path, settings
):
    version = _upload(alice_client, tenant_a, tmp_path, blobs(3000, anomalies=60), "big")
    settings.RUN_FANOUT_PART_ROWS = 1000
    config = make_config(tenant_a, alice)
    run = make_run(tenant_a, alice, version, config, label_column="is_anomaly", max_fit_rows=1000)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.summary["fanout"]["parts"] == 3

    assert s3_storage.keys("fanout/") == []  # the spread's model and parts are gone
    assert run.results.name in s3_storage.keys()
    results = alice_client.get(_run_url("download_csv", run))
    assert len(pd.read_csv(io.BytesIO(b"".join(results.streaming_content)))) == 3000
    assert not s3_storage.media_root.exists()

    # a worker's part on S3: the model and the rows read through storage, the piece stored
    # under fanout/<token>/ and read back, then the folder deleted as the run's task does
    import uuid

    from django.core.cache import cache
    from django.core.files.storage import default_storage

    from apps.common.storage import delete_folder
    from apps.runs import fanout
    from pynomaly import distributed

    token = uuid.uuid4().hex
    cache.set(fanout._key(token, "open"), 1, timeout=60)
    model = run.trained_model
    outcome = fanout.score_part(
        run_id=run.pk,
        token=token,
        index=0,
        start=0,
        stop=1000,
        chunk=250,
        model_name=model.artifact.name,
        sha256=model.sha256,
    )
    assert outcome == "scored"
    name = cache.get(fanout._key(token, "d0"))
    assert s3_storage.keys(f"fanout/{token}/") == [name]
    with default_storage.open(name, "rb") as fh:
        piece = distributed.read_piece(fh, rows=1000, detectors=1)
    assert piece.raw.shape[0] == 1000
    delete_folder(f"fanout/{token}")
    cache.delete_many([fanout._key(token, w) for w in ("open", "c0", "d0")])
    assert s3_storage.keys("fanout/") == []
    assert not s3_storage.media_root.exists()


def test_the_stored_model_scores_again_online_and_as_onnx_from_s3(
    s3_storage, alice_client, alice, tenant_a, tmp_path
):
    from apps.detectors import scoring
    from apps.runs.services import run_start

    frame = blobs(300, anomalies=10, label=True)
    version = _upload(alice_client, tenant_a, tmp_path, frame, "again")
    first = make_run(
        tenant_a, alice, version, make_config(tenant_a, alice), label_column="is_anomaly"
    )
    execute_run(first.pk)
    first.refresh_from_db()
    model = first.trained_model

    # a run scored with the stored model reads it back from the bucket: the same scores
    second = run_start(
        tenant=tenant_a,
        user=alice,
        dataset_version=version,
        detector_version=first.detector_version,
        label_column="is_anomaly",
        scoring_model=model,
    )
    execute_run(second.pk)
    second.refresh_from_db()
    assert second.status == Run.Status.SUCCEEDED, second.error

    def scores(run) -> list[float]:
        response = alice_client.get(_run_url("download_csv", run))
        table = pd.read_csv(io.BytesIO(b"".join(response.streaming_content)))
        return table.sort_values("row_id")["score"].tolist()

    assert scores(second) == scores(first)

    # online scoring loads the model from the bucket
    scoring.cache.clear()
    records = frame[model.input_columns].head(5).to_dict(orient="records")
    out = scoring.score_records(model=model, records=records)
    assert len(out["scores"]) == 5 and out["labels"][0] == 1  # the first rows are the outliers

    # the ONNX download converts the stored model
    onnx = alice_client.get(
        reverse("detectors:model_onnx", kwargs={"tenant_slug": tenant_a.slug, "model_id": model.pk})
    )
    assert onnx.status_code == 200
    assert len(b"".join(onnx.streaming_content) if onnx.streaming else onnx.content) > 100
    assert not s3_storage.media_root.exists()
