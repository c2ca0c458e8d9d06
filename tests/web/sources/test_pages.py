"""The source pages: admins create (URL or fields), test, preview, pull and delete; others are refused."""

from __future__ import annotations

import sqlite3

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.sources import tasks
from apps.sources.models import Source
from apps.sources.services import source_create, source_pull
from apps.tenants.services import membership_add
from tests.conftest import _client_for, _user


@pytest.fixture
def demo_file(sqlite_dir):
    with sqlite3.connect(sqlite_dir / "plant.db") as c:
        c.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, temp REAL, line TEXT)")
        c.executemany(
            "INSERT INTO readings (temp, line) VALUES (?, ?)", [(20.0 + i, "a") for i in range(12)]
        )
    return sqlite_dir / "plant.db"


@pytest.fixture
def sqlite_source(tenant_a, alice, demo_file):
    return source_create(
        tenant=tenant_a, user=alice,
        data={"name": "plant", "kind": "sqlite", "database": "plant.db", "table": "readings",
              "watermark_column": "id"},
    )  # fmt: skip


@pytest.fixture
def adam_client(tenant_a):
    adam = _user("adam@example.com")
    membership_add(tenant=tenant_a, user=adam, role="admin")
    return _client_for(adam)


def _url(name, tenant, *args):
    return reverse(f"sources:{name}", args=[tenant.slug, *args])


def test_an_admin_creates_a_source_from_a_url_and_the_password_is_kept_secret(
    adam_client, tenant_a, maria_db
):
    maria_db.execute("CREATE TABLE IF NOT EXISTS page_rows (id INT, v DOUBLE)")
    response = adam_client.post(
        _url("create", tenant_a),
        {"name": "shop", "kind": "postgresql", "url": maria_db.url(), "table": "page_rows",
         "statement_timeout_seconds": "30", "row_cap": "1000", "columns_cap": "100"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    source = Source.objects.get(tenant=tenant_a, name="shop")
    assert (source.kind, source.host, source.port, source.username) == (
        "mysql",
        "127.0.0.1",
        3306,
        maria_db.user,
    )
    page = adam_client.get(response["Location"]).content.decode()
    assert "•••• set" in page and maria_db.password not in page

    result = adam_client.post(_url("test", tenant_a, source.pk), headers={"HX-Request": "true"})
    assert result.status_code == 200
    assert "Connected to MariaDB" in result.content.decode()


def test_the_form_shows_each_refusal_on_its_field(adam_client, tenant_a):
    response = adam_client.post(
        _url("create", tenant_a),
        {"name": "bad", "kind": "postgresql", "host": "db.example.com", "database": "x",
         "query": "DELETE FROM orders", "statement_timeout_seconds": "99999", "row_cap": "10",
         "columns_cap": "10"},
    )  # fmt: skip
    assert response.status_code == 400
    form = response.context["form"]
    assert "Only a read-only SELECT" in form.errors["query"][0]
    assert "statement timeout must be between" in form.errors["statement_timeout_seconds"][0]
    assert not Source.objects.filter(name="bad").exists()


def test_a_failed_connection_test_shows_the_reason(adam_client, tenant_a, settings, sqlite_source):
    Source.objects.filter(pk=sqlite_source.pk).update(database="missing.db")
    response = adam_client.post(_url("test", tenant_a, sqlite_source.pk))
    assert response.status_code == 200
    assert "There is no SQLite file missing.db" in response.content.decode()


def test_the_preview_shows_the_first_rows(adam_client, tenant_a, sqlite_source):
    response = adam_client.post(
        _url("preview", tenant_a, sqlite_source.pk), headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert 'id="preview-table"' in html and "<th" in html and "temp" in html and "31.0" in html
    assert "<html" not in html  # the partial only


def test_pull_now_queues_the_task_and_the_version_appears_on_the_dataset_page(
    adam_client, tenant_a, sqlite_source, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.pull, "delay", lambda *a: sent.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        response = adam_client.post(_url("pull", tenant_a, sqlite_source.pk))
    assert response.status_code == 302 and sent == [
        (sqlite_source.pk, response.wsgi_request.user.pk)
    ]
    tasks.pull(*sent[0])  # what the worker does with the message
    sqlite_source.refresh_from_db()
    assert sqlite_source.watermark_value == "12"
    page = adam_client.get(
        reverse("datasets:detail", args=[tenant_a.slug, sqlite_source.dataset_id])
    )
    html = page.content.decode()
    assert page.status_code == 200 and 'id="dataset-source"' in html and "plant" in html
    detail = adam_client.get(_url("detail", tenant_a, sqlite_source.pk)).content.decode()
    assert 'id="pulled-versions"' in detail and "v1" in detail


def test_a_failed_pull_is_shown_on_the_source_page(adam_client, tenant_a, sqlite_source, alice):
    Source.objects.filter(pk=sqlite_source.pk).update(row_cap=5)
    sqlite_source.refresh_from_db()
    tasks.pull(sqlite_source.pk, alice.pk)
    page = adam_client.get(_url("detail", tenant_a, sqlite_source.pk)).content.decode()
    assert "more than 5 rows (the source&#x27;s row cap)" in page


def test_delete_removes_the_source_and_keeps_its_dataset(
    adam_client, tenant_a, sqlite_source, alice
):
    source_pull(source=sqlite_source, user=alice)
    sqlite_source.refresh_from_db()
    response = adam_client.post(_url("delete", tenant_a, sqlite_source.pk))
    assert response.status_code == 302
    assert not Source.objects.filter(pk=sqlite_source.pk).exists()
    assert tenant_a.pk and sqlite_source.dataset_id
    from apps.datasets.models import Dataset

    assert Dataset.objects.filter(pk=sqlite_source.dataset_id).exists()
    assert AuditEvent.objects.filter(action="source.deleted").count() == 1


def test_analysts_and_viewers_may_look_but_not_manage(
    bob_client, vera_client, tenant_a, sqlite_source
):
    for client in (bob_client, vera_client):
        assert client.get(_url("list", tenant_a)).status_code == 200
        assert client.get(_url("detail", tenant_a, sqlite_source.pk)).status_code == 200
        assert client.get(_url("create", tenant_a)).status_code == 403
        for name in ("edit", "delete", "test", "preview", "pull"):
            assert client.post(_url(name, tenant_a, sqlite_source.pk)).status_code == 403, name
    assert Source.objects.filter(pk=sqlite_source.pk).exists()


def test_a_stranger_gets_404_for_another_workspaces_source(
    charlie_client, tenant_a, tenant_b, sqlite_source
):
    assert charlie_client.get(_url("detail", tenant_a, sqlite_source.pk)).status_code == 404
    # in his own workspace, naming A's source id
    assert charlie_client.get(_url("detail", tenant_b, sqlite_source.pk)).status_code == 404
    assert charlie_client.post(_url("pull", tenant_b, sqlite_source.pk)).status_code == 404


def test_a_sqlite_source_cannot_leave_its_directory(tenant_a, alice, sqlite_dir):
    from apps.sources.services import SourceError, source_test

    source = source_create(
        tenant=tenant_a, user=alice,
        data={"name": "escape", "kind": "sqlite", "database": "../../etc/passwd", "table": "x"},
    )  # fmt: skip
    with pytest.raises(SourceError, match="must name a file inside"):
        source_test(source=source, user=alice)
