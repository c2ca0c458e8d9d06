"""Uploading: every format becomes a version; bad files are refused and leave nothing behind."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.datasets.models import Dataset, DatasetVersion, Upload

from .helpers import ROWS, frame, ingest_latest, post_file, stored_files, upload_url, url, write

# Expected columns per format: HDF5 holds only the numeric ones (row, value, other).
FORMATS = [
    ("csv", 4),
    ("tsv", 4),
    ("json", 4),
    ("jsonl", 4),
    ("parquet", 4),
    ("feather", 4),
    ("xlsx", 4),
    ("hdf5", 3),
]


def _actions(tenant):
    return list(
        AuditEvent.objects.filter(tenant=tenant, action__startswith="dataset.")
        .order_by("id")
        .values_list("action", flat=True)
    )


@pytest.mark.parametrize(("fmt", "columns"), FORMATS)
def test_each_format_becomes_a_dataset_version_with_the_right_shape(
    alice_client, tenant_a, tmp_path, fmt, columns
):
    path = write(fmt, tmp_path)
    response = post_file(alice_client, tenant_a, path, name="sensors")
    assert response.status_code == 302, response.content.decode()
    dataset = Dataset.objects.get(tenant=tenant_a, name="sensors")
    assert response["Location"] == url("detail", tenant_a, pk=dataset.pk)
    assert dataset.status == Dataset.Status.INGESTING

    upload = ingest_latest()
    dataset.refresh_from_db()
    version = dataset.latest_version
    assert upload.status == Upload.Status.DONE, upload.error
    assert dataset.status == Dataset.Status.READY
    assert (version.number, version.rows, version.columns, version.format) == (
        1,
        ROWS,
        columns,
        fmt,
    )
    assert [c["name"] for c in version.schema][:3] == ["row", "value", "other"]
    assert version.parquet.name.endswith(".parquet")
    assert version.original.read() == path.read_bytes()


def test_the_name_defaults_to_the_file_name_without_its_extension(alice_client, tenant_a, tmp_path):
    post_file(alice_client, tenant_a, write("csv", tmp_path, stem="plant.north"))
    assert Dataset.objects.filter(tenant=tenant_a).get().name == "plant.north"


def test_uploading_the_same_bytes_again_is_recognised_and_not_stored_twice(
    alice_client, tenant_a, tmp_path, media, django_capture_on_commit_callbacks
):
    path = write("csv", tmp_path)
    post_file(alice_client, tenant_a, path, name="sensors")
    ingest_latest()
    files_after_first = stored_files(media)

    post_file(alice_client, tenant_a, path, name="sensors")
    with django_capture_on_commit_callbacks(execute=True):
        upload = ingest_latest()

    assert upload.status == Upload.Status.DUPLICATE
    assert DatasetVersion.objects.filter(dataset__tenant=tenant_a).count() == 1
    assert stored_files(media) == files_after_first  # the second copy was deleted
    page = alice_client.get(url("detail", tenant_a, pk=upload.dataset_id)).content.decode()
    assert "identical to version 1" in page
    assert Dataset.objects.get(pk=upload.dataset_id).status == Dataset.Status.READY


def test_changed_data_under_the_same_name_becomes_version_2(alice_client, tenant_a, tmp_path):
    post_file(
        alice_client, tenant_a, write("csv", tmp_path, frame(seed=1), stem="v1"), name="sensors"
    )
    ingest_latest()
    post_file(
        alice_client,
        tenant_a,
        write("csv", tmp_path, frame(rows=80, seed=2), stem="v2"),
        name="sensors",
    )
    ingest_latest()
    versions = DatasetVersion.objects.filter(dataset__name="sensors").order_by("number")
    assert [(v.number, v.rows) for v in versions] == [(1, ROWS), (2, 80)]
    assert versions[0].sha256 != versions[1].sha256
    assert Dataset.objects.filter(tenant=tenant_a).count() == 1


def test_a_binary_file_named_csv_is_refused_with_a_message_and_leaves_nothing(
    alice_client, tenant_a, media
):
    exe = SimpleUploadedFile(
        "data.csv", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(range(256)) * 4
    )
    response = alice_client.post(upload_url(tenant_a), {"name": "", "file": exe})
    assert response.status_code == 400  # bad content: the form re-renders as a refusal
    html = response.content.decode()
    assert 'id="file-errors"' in html
    assert "binary and not in a supported format" in html
    assert not Dataset.objects.exists() and not Upload.objects.exists()
    assert stored_files(media) == []
    assert _actions(tenant_a) == ["dataset.upload_refused"]
    event = AuditEvent.objects.get(action="dataset.upload_refused")
    assert event.details["reason"] == "format" and event.details["file"] == "data.csv"


def test_a_parquet_file_named_csv_is_refused_because_the_content_decides(
    alice_client, tenant_a, tmp_path
):
    path = write("parquet", tmp_path)
    response = post_file(alice_client, tenant_a, path, filename="sensors.csv")
    assert "is named as CSV, but the file content is not CSV" in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_ragged_csv_is_refused_naming_the_line(alice_client, tenant_a, media):
    ragged = SimpleUploadedFile("ragged.csv", b"a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    response = alice_client.post(upload_url(tenant_a), {"file": ragged})
    html = response.content.decode()
    assert "ragged.csv cannot be read" in html
    assert "line 4" in html
    assert not Dataset.objects.exists()
    assert stored_files(media) == []


def test_with_htmx_a_refused_upload_re_renders_only_the_form(alice_client, tenant_a):
    empty = SimpleUploadedFile("empty.csv", b"")
    response = alice_client.post(
        upload_url(tenant_a), {"file": empty}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="upload-form"' in html and "<html" not in html
    assert "empty" in html


def test_with_htmx_a_good_upload_redirects_the_client(alice_client, tenant_a, tmp_path):
    response = post_file(
        alice_client, tenant_a, write("csv", tmp_path), headers={"HX-Request": "true"}
    )
    dataset = Dataset.objects.get()
    assert response["HX-Redirect"] == url("detail", tenant_a, pk=dataset.pk)


class _Unreadable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def test_the_middleware_refuses_a_large_declared_length_without_reading_the_body(
    alice_client, tenant_a, settings
):
    settings.PYNOMALY_MAX_UPLOAD_BYTES = 10_000
    response = alice_client.generic(
        "POST",
        upload_url(tenant_a),
        b"tiny",
        content_type="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(5 * 1024 * 1024 * 1024),
        **{"wsgi.input": _Unreadable()},
    )
    assert response.status_code == 413
    assert "upload limit is 9.8 KiB" in response.content.decode()
    assert response["Connection"] == "close"
    assert not Dataset.objects.exists()


def test_an_upload_streaming_past_the_limit_gets_413_and_leaves_nothing(
    alice_client, tenant_a, settings, media
):
    settings.PYNOMALY_MAX_UPLOAD_BYTES = (
        1_000  # the body (~5 kB) passes the header check, not the stream
    )
    big = SimpleUploadedFile("big.csv", b"a,b\n" + b"1,2\n" * 1_200)
    response = alice_client.post(upload_url(tenant_a), {"name": "big", "file": big})
    assert response.status_code == 413
    assert "larger than the upload limit" in response.content.decode()
    assert 'id="upload-form"' in response.content.decode()
    assert not Dataset.objects.exists() and not Upload.objects.exists()
    assert stored_files(media) == []
    assert _actions(tenant_a) == ["dataset.upload_refused"]


def test_a_good_upload_writes_exactly_one_audit_event(alice_client, tenant_a, tmp_path):
    post_file(alice_client, tenant_a, write("csv", tmp_path), name="sensors")
    assert _actions(tenant_a) == ["dataset.uploaded"]
    ingest_latest()
    assert _actions(tenant_a) == ["dataset.uploaded", "dataset.version_created"]


def test_analysts_may_upload(bob_client, tenant_a, tmp_path):
    assert bob_client.get(upload_url(tenant_a)).status_code == 200
    response = post_file(bob_client, tenant_a, write("csv", tmp_path))
    assert response.status_code == 302
    assert Upload.objects.get().created_by.email == "bob@example.com"
