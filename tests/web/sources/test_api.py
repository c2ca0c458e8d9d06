"""/api/v1/sources: CRUD for admins, test / preview / pull, problem+json refusals, no secrets out."""

from __future__ import annotations

import json

import pytest

from apps.sources.models import Source
from apps.tenants.services import membership_add
from tests.conftest import _user
from tests.web.api.conftest import Api, make_token


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings):
    from apps.api import throttling

    settings.API_RATE_PER_TOKEN = settings.API_RATE_PER_IP = settings.API_RATE_ANON = "10000/min"
    throttling.reset_all()


@pytest.fixture
def admin_api(tenant_a):
    adam = _user("adam@example.com")
    membership_add(tenant=tenant_a, user=adam, role="admin")
    return Api(make_token(adam, tenant_a)[1])


@pytest.fixture
def pg_table(pg_db):
    pg_db.execute(
        "CREATE TABLE IF NOT EXISTS api_rows (id SERIAL PRIMARY KEY, amount NUMERIC(8,2), shop TEXT)",
        "TRUNCATE api_rows",
        "INSERT INTO api_rows (amount, shop) SELECT g * 1.25, 'shop-' || (g % 3) FROM generate_series(1, 40) g",
    )
    return pg_db


def _create(api, pg_db, **extra):
    body = {
        "name": "payments",
        "url": pg_db.url(),
        "table": "api_rows",
        "watermark_column": "id",
        **extra,
    }
    return api.post("/sources", json=body)


def test_an_admin_creates_tests_previews_and_pulls_a_postgresql_source(admin_api, pg_table):
    created = _create(admin_api, pg_table)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["password_set"] is True and "password" not in body
    assert pg_table.password not in created.content.decode()
    sid = body["id"]

    test = admin_api.post(f"/sources/{sid}/test")
    assert test.status_code == 200 and test.json()["server"].startswith("PostgreSQL")
    assert test.json()["columns"] == ["id", "amount", "shop"]

    preview = admin_api.post(f"/sources/{sid}/preview?rows=5").json()
    assert preview["columns"] == ["id", "amount", "shop"] and len(preview["rows"]) == 5

    pulled = admin_api.post(f"/sources/{sid}/pull?wait=true")
    assert pulled.status_code == 200
    assert pulled.json()["version"]["rows"] == 40
    assert pulled.json()["source"]["watermark_value"] == "40"
    again = admin_api.post(f"/sources/{sid}/pull?wait=true").json()
    assert again["version"] is None

    listed = admin_api.get("/sources").json()
    assert [s["id"] for s in listed["items"]] == [sid]
    patched = admin_api.patch(f"/sources/{sid}", {"row_cap": 10, "reset_watermark": True})
    assert patched.status_code == 200 and patched.json()["watermark_value"] == ""
    refused = admin_api.post(f"/sources/{sid}/pull?wait=true")
    assert refused.status_code == 422
    assert refused["Content-Type"] == "application/problem+json"
    assert (
        refused.json()["detail"] == "The query returned more than 10 rows (the source's row cap)."
    )

    assert admin_api.delete(f"/sources/{sid}").status_code == 204
    assert not Source.objects.filter(pk=sid).exists()


def test_a_queued_pull_answers_202(admin_api, pg_table, monkeypatch):
    from apps.sources import tasks

    monkeypatch.setattr(tasks.pull, "delay", lambda *a: None)
    sid = _create(admin_api, pg_table).json()["id"]
    response = admin_api.post(f"/sources/{sid}/pull")
    assert response.status_code == 202 and response.json()["queued"] is True


def test_bad_fields_are_422_with_their_location(admin_api):
    response = admin_api.post(
        "/sources",
        json={"name": "x", "kind": "postgresql", "host": "db.example.com", "database": "d",
              "query": "UPDATE t SET a = 1", "row_cap": 0},
    )  # fmt: skip
    assert response.status_code == 422
    locs = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert ("body", "query") in locs and ("body", "row_cap") in locs
    unknown = admin_api.post("/sources", json={"name": "x", "passwd": "oops"})
    assert unknown.status_code == 422


def test_a_refused_host_is_a_clear_problem(admin_api, settings):
    settings.PYNOMALY_OUTBOUND_ALLOW = []
    sid = admin_api.post(
        "/sources", json={"name": "local", "url": "postgresql://u:p@localhost/db", "table": "t"}
    ).json()["id"]
    response = admin_api.post(f"/sources/{sid}/test")
    assert response.status_code == 422
    assert "loopback" in response.json()["detail"]


def test_analysts_and_viewers_cannot_manage_sources(bob_api, vera_api, alice_api, pg_table):
    sid = _create(alice_api, pg_table).json()["id"]
    for api in (bob_api, vera_api):
        assert api.get(f"/sources/{sid}").status_code == 200
        assert api.post("/sources", json={"name": "n"}).status_code == 403
        assert api.patch(f"/sources/{sid}", {"name": "n"}).status_code == 403
        for action in ("test", "preview", "pull"):
            assert api.post(f"/sources/{sid}/{action}").status_code == 403
        assert api.delete(f"/sources/{sid}").status_code == 403
    assert Source.objects.get(pk=sid).name == "payments"


def test_a_stranger_gets_404(charlie_api, alice_api, pg_table):
    sid = _create(alice_api, pg_table).json()["id"]
    for response in (
        charlie_api.get(f"/sources/{sid}"),
        charlie_api.post(f"/sources/{sid}/pull?wait=true"),
        charlie_api.delete(f"/sources/{sid}"),
    ):
        assert response.status_code == 404
        assert json.loads(response.content)["detail"] == f"No source {sid} in this workspace."
