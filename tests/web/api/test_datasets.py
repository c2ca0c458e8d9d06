"""Datasets over the API: multipart and streamed uploads, reads, paging, delete, roles, strangers."""

from __future__ import annotations

import io

import pytest

from apps.audit.models import AuditEvent
from apps.datasets.models import Dataset, Upload
from tests.web.runs.factories import blobs, make_config, make_run, make_version

from .conftest import Api, assert_problem, make_token

CSV = b"a,b,c\n" + b"".join(f"{i},{i * 2},{i % 7}\n".encode() for i in range(50))


@pytest.fixture(autouse=True)
def no_ingest(monkeypatch):
    """These tests check the API's answers; ingestion itself is tested in tests/web/datasets and e2e."""
    monkeypatch.setattr("apps.datasets.services._enqueue_ingest", lambda upload_id: None)


def _multipart(api, name="sensors", content=CSV, filename="sensors.csv"):
    f = io.BytesIO(content)
    f.name = filename
    return api.post("/datasets", data={"file": f, "name": name})


def test_a_multipart_upload_answers_202_with_the_dataset(alice_api, tenant_a):
    r = _multipart(alice_api)
    assert r.status_code == 202, r.content
    body = r.json()
    assert (
        body["name"] == "sensors"
        and body["status"] == "ingesting"
        and body["latest_version"] is None
    )
    assert [u["status"] for u in body["uploads"]] == ["pending"]
    assert Dataset.objects.get(pk=body["id"]).tenant == tenant_a
    assert AuditEvent.objects.filter(action="dataset.uploaded", ip="127.0.0.1").count() == 1


def test_a_streamed_upload_answers_202_with_the_dataset(alice_api):
    r = alice_api.put("/datasets/stream?name=streamed&filename=data.csv", CSV)
    assert r.status_code == 202, r.content
    upload = Upload.objects.get(dataset_id=r.json()["id"])
    assert (r.json()["name"], upload.original_name, upload.format, upload.size) == (
        "streamed",
        "data.csv",
        "csv",
        len(CSV),
    )


def test_a_streamed_upload_is_content_checked_like_the_browsers(alice_api):
    r = alice_api.put("/datasets/stream?name=junk&filename=x.csv", b"\x00\x01\x02binary\xff" * 10)
    body = assert_problem(r, 422)
    assert body["errors"][0]["loc"] == ["body", "file"]
    assert not Dataset.objects.exists()
    assert AuditEvent.objects.filter(action="dataset.upload_refused").exists()


def test_an_empty_multipart_file_is_refused_naming_the_file_field(alice_api):
    body = assert_problem(_multipart(alice_api, content=b""), 422)
    assert body["errors"][0]["loc"] == ["body", "file"] and "empty" in body["detail"]


def test_a_multipart_upload_without_a_file_names_the_missing_field(alice_api):
    body = assert_problem(alice_api.post("/datasets", data={"name": "x"}), 422)
    assert ["file", "file"] == body["errors"][0]["loc"] or body["errors"][0]["loc"][-1] == "file"


def test_a_streamed_upload_over_the_limit_is_a_413_problem(alice_api, settings):
    settings.PYNOMALY_MAX_UPLOAD_BYTES = 100
    assert_problem(alice_api.put("/datasets/stream?name=big&filename=big.csv", CSV), 413)
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("who", ["vera_api", "alice_read_api"])
def test_viewers_and_read_tokens_cannot_upload(who, request):
    api = request.getfixturevalue(who)
    assert_problem(_multipart(api), 403)
    assert_problem(api.put("/datasets/stream?name=x", CSV), 403)
    assert not Dataset.objects.exists()


def test_an_analyst_may_upload(bob_api):
    assert _multipart(bob_api).status_code == 202


def test_a_dataset_reads_with_its_latest_version_and_versions(alice_api, alice, tenant_a):
    version = make_version(tenant_a, blobs(40), user=alice)
    r = alice_api.get(f"/datasets/{version.dataset_id}")
    assert r.status_code == 200
    latest = r.json()["latest_version"]
    assert (latest["id"], latest["number"], latest["rows"], latest["columns"]) == (
        version.pk,
        1,
        40,
        4,
    )
    assert latest["schema"][0] == {"name": "a", "dtype": "float64"}
    versions = alice_api.get(f"/datasets/{version.dataset_id}/versions").json()["items"]
    assert [v["number"] for v in versions] == [1]


def test_the_profile_of_a_version_is_returned_and_a_missing_version_is_404(
    alice_api, alice, tenant_a
):
    version = make_version(tenant_a, blobs(40), user=alice)
    version.profile = {"columns": [{"name": "a"}], "warnings": []}
    version.save()
    assert alice_api.get(f"/datasets/{version.dataset_id}/profile").json()["columns"] == [
        {"name": "a"}
    ]
    assert alice_api.get(f"/datasets/{version.dataset_id}/profile?version=1").status_code == 200
    assert_problem(alice_api.get(f"/datasets/{version.dataset_id}/profile?version=9"), 404)


def test_datasets_page_with_a_cursor_and_no_repeats(alice_api, tenant_a):
    for i in range(7):
        Dataset.objects.create(tenant=tenant_a, name=f"d{i}")
    seen, cursor = [], None
    while True:
        r = alice_api.get("/datasets", {"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        seen += [d["name"] for d in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [f"d{i}" for i in reversed(range(7))]


def test_a_tampered_cursor_is_a_400_problem(alice_api):
    assert_problem(alice_api.get("/datasets", {"cursor": "bogus"}), 400)


def test_a_limit_over_500_is_a_422_naming_the_parameter(alice_api):
    body = assert_problem(alice_api.get("/datasets", {"limit": 501}), 422)
    assert body["errors"][0]["loc"] == ["query", "limit"]


def test_a_stranger_gets_404_for_every_dataset_endpoint_and_never_the_name(
    charlie_api, alice, tenant_a
):
    version = make_version(tenant_a, blobs(40), user=alice)
    pk = version.dataset_id
    for path in (f"/datasets/{pk}", f"/datasets/{pk}/versions", f"/datasets/{pk}/profile"):
        body = assert_problem(charlie_api.get(path), 404)
        assert version.dataset.name not in str(body)
    assert_problem(charlie_api.delete(f"/datasets/{pk}"), 404)
    assert charlie_api.get("/datasets").json()["items"] == []
    assert Dataset.objects.filter(pk=pk).exists()


def test_a_dataset_is_deleted_with_204(alice_api, alice, tenant_a):
    version = make_version(tenant_a, blobs(40), user=alice)
    r = alice_api.delete(f"/datasets/{version.dataset_id}")
    assert r.status_code == 204 and not Dataset.objects.exists()
    assert AuditEvent.objects.filter(action="dataset.deleted").exists()


def test_deleting_a_dataset_a_run_uses_is_a_409_naming_the_run(alice_api, alice, tenant_a):
    version = make_version(tenant_a, blobs(40), user=alice)
    run = make_run(tenant_a, alice, version, make_config(tenant_a, alice))
    body = assert_problem(alice_api.delete(f"/datasets/{version.dataset_id}"), 409)
    assert f"run #{run.pk}" in body["detail"]


def test_a_viewer_cannot_delete_a_dataset(vera_api, alice, tenant_a):
    version = make_version(tenant_a, blobs(40), user=alice)
    assert_problem(vera_api.delete(f"/datasets/{version.dataset_id}"), 403)
    assert Dataset.objects.exists()


def test_a_removed_member_cannot_read_datasets(alice, bob, tenant_a):
    from apps.tenants.models import Membership
    from apps.tenants.services import membership_remove

    api = Api(make_token(bob, tenant_a, scope="read")[1])
    assert api.get("/datasets").status_code == 200
    membership_remove(membership=Membership.objects.get(user=bob, tenant=tenant_a), actor=alice)
    assert_problem(api.get("/datasets"), 401)


def test_a_strangers_reach_for_another_workspaces_dataset_is_audited_once(
    charlie_api, charlie, alice, tenant_a
):
    from apps.audit.models import AuditEvent

    version = make_version(tenant_a, blobs(40), user=alice)
    assert_problem(charlie_api.get(f"/datasets/{version.dataset_id}"), 404)
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.actor, event.tenant, event.target_id) == (
        charlie,
        tenant_a,
        str(version.dataset_id),
    )
    # An id that exists nowhere is only a 404, with nothing to record.
    assert_problem(charlie_api.get("/datasets/987654"), 404)
    assert AuditEvent.objects.filter(action="access.denied").count() == 1
