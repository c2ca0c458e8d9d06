"""Ingest: engine parse → Parquet → immutable version, atomically, idempotently."""

import pandas as pd
import pyarrow.parquet as pq
import pytest

from apps.audit.models import AuditEvent
from apps.datasets import services
from apps.datasets.models import Dataset, DatasetVersion, Upload
from apps.datasets.services import MAX_INGEST_ATTEMPTS, dataset_create_from_path, dataset_ingest
from apps.datasets.tasks import ingest

from .helpers import ROWS, frame, ingest_latest, post_file, stored_files, url, write


def test_ingest_writes_parquet_schema_profile_and_time_column(alice_client, tenant_a, tmp_path):
    df = frame()
    df["when"] = pd.date_range("2024-03-01", periods=ROWS, freq="min").astype(str)
    df["flat"] = 1
    post_file(alice_client, tenant_a, write("csv", tmp_path, df), name="sensors")
    upload = ingest_latest()
    version = upload.version

    table = pq.read_table(version.parquet.path)
    assert table.num_rows == ROWS and table.column_names == list(df.columns)
    assert version.time_column == "when"
    assert {"name": "value", "dtype": "float64"} in version.schema
    assert len(version.sha256) == 64 and version.sha256 == upload.sha256
    kinds = {(w["column"], w["kind"]) for w in version.profile["warnings"]}
    assert ("flat", "constant") in kinds
    assert ("row", "id") in kinds
    value = next(c for c in version.profile["columns"] if c["name"] == "value")
    assert len(value["histogram"]["counts"]) == 20


def test_a_failed_ingest_marks_the_dataset_failed_and_leaves_no_version_or_files(
    alice_client, tenant_a, tmp_path, settings, media, django_capture_on_commit_callbacks
):
    post_file(alice_client, tenant_a, write("csv", tmp_path), name="sensors")
    settings.PYNOMALY_MAX_ROWS = 50  # the upload check passed; the full parse is over the limit
    with django_capture_on_commit_callbacks(execute=True):
        upload = ingest_latest()

    dataset = Dataset.objects.get(name="sensors")
    assert upload.status == Upload.Status.FAILED
    assert dataset.status == Dataset.Status.FAILED
    assert "the limit is 50 rows" in dataset.error
    assert not DatasetVersion.objects.exists()
    assert stored_files(media) == []
    assert AuditEvent.objects.filter(action="dataset.ingest_failed").count() == 1
    page = alice_client.get(url("detail", tenant_a, pk=dataset.pk)).content.decode()
    assert "the limit is 50 rows" in page and 'id="dataset-error"' in page


def test_a_failure_while_writing_the_version_rolls_everything_back(
    alice_client, tenant_a, tmp_path, media, monkeypatch, django_capture_on_commit_callbacks
):
    post_file(alice_client, tenant_a, write("csv", tmp_path), name="sensors")
    real = services.audit_record

    def broken(**kwargs):
        if kwargs["action"] == "dataset.version_created":
            raise RuntimeError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(services, "audit_record", broken)
    with django_capture_on_commit_callbacks(execute=True):
        upload = ingest_latest()
    assert upload.status == Upload.Status.FAILED
    assert not DatasetVersion.objects.exists()
    assert stored_files(media) == []  # neither the Parquet copy nor the original is left
    assert Dataset.objects.get().status == Dataset.Status.FAILED


def test_ingest_leaves_an_upload_that_is_not_pending_alone(alice_client, tenant_a, tmp_path):
    post_file(alice_client, tenant_a, write("csv", tmp_path), name="sensors")
    upload = ingest_latest()
    events = AuditEvent.objects.count()
    ingest.apply(args=[upload.pk])  # a redelivered task
    assert DatasetVersion.objects.count() == 1
    assert AuditEvent.objects.count() == events
    assert ingest.apply(args=[999_999]).successful()  # an upload deleted meanwhile


def test_an_upload_redelivered_too_often_is_failed_not_retried_for_ever(
    alice_client, tenant_a, tmp_path
):
    post_file(alice_client, tenant_a, write("csv", tmp_path), name="sensors")
    Upload.objects.update(attempts=MAX_INGEST_ATTEMPTS)
    upload = ingest_latest()
    assert upload.status == Upload.Status.FAILED
    assert "interrupted repeatedly" in upload.dataset.error


def test_create_from_path_goes_through_the_same_checks_and_ingests_now(alice, tenant_a, tmp_path):
    upload = dataset_create_from_path(
        tenant=tenant_a, user=alice, path=write("parquet", tmp_path), name="demo", ingest_now=True
    )
    assert upload.status == Upload.Status.DONE
    assert (upload.version.rows, upload.dataset.status) == (ROWS, Dataset.Status.READY)
    assert (tmp_path / "sensors.parquet").exists()  # the source file is copied, not moved

    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(services.UploadRefused):
        dataset_create_from_path(tenant=tenant_a, user=alice, path=bad, name="bad", ingest_now=True)
    assert not Dataset.objects.filter(name="bad").exists()


def test_create_from_path_without_ingest_now_leaves_the_upload_pending(alice, tenant_a, tmp_path):
    upload = dataset_create_from_path(
        tenant=tenant_a, user=alice, path=write("csv", tmp_path), name="later", ingest_now=False
    )
    assert upload.status == Upload.Status.PENDING
    assert dataset_ingest(upload_id=upload.pk).status == Upload.Status.DONE


@pytest.mark.integration
def test_a_real_worker_ingests_an_upload_queued_after_commit(
    celery_worker, alice_client, tenant_a, tmp_path
):
    import time

    response = post_file(alice_client, tenant_a, write("jsonl", tmp_path), name="live")
    assert response.status_code == 302
    dataset = Dataset.objects.get(name="live")
    deadline = time.monotonic() + 30
    while dataset.status == Dataset.Status.INGESTING and time.monotonic() < deadline:
        time.sleep(0.2)
        dataset.refresh_from_db()
    assert dataset.status == Dataset.Status.READY, dataset.error
    assert dataset.latest_version.rows == ROWS
