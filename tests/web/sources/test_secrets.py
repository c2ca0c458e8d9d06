"""Credentials: encrypted at rest, never in logs, the audit trail, pages or API answers; keys rotate."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.common import secrets
from apps.sources.models import Source
from apps.sources.services import (
    SourceError,
    source_create,
    source_preview,
    source_pull,
    source_test,
    source_update,
)

from .conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[3]


def _raw_column(source: Source) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT password_encrypted FROM sources_source WHERE id = %s", [source.pk])
        return cur.fetchone()[0]


@pytest.fixture
def maria_source(tenant_a, alice, maria_db):
    maria_db.execute("CREATE TABLE IF NOT EXISTS secret_rows (id INT, v DOUBLE)")
    maria_db.execute("DELETE FROM secret_rows", "INSERT INTO secret_rows VALUES (1, 1.5), (2, 2.5)")
    return source_create(
        tenant=tenant_a, user=alice,
        data={"name": "maria", "url": maria_db.url(), "table": "secret_rows", "watermark_column": "id"},
    )  # fmt: skip


def test_the_password_is_stored_encrypted_and_still_connects(maria_source, alice):
    raw = _raw_column(maria_source)
    assert raw and PASSWORD not in raw
    assert secrets.decrypt(raw) == PASSWORD
    assert source_pull(source=maria_source, user=alice).rows == 2  # MariaDB checks the password


def test_the_password_never_reaches_logs_or_the_audit_trail(tenant_a, alice, maria_db, caplog):
    caplog.set_level(logging.DEBUG)
    maria_db.execute("CREATE TABLE IF NOT EXISTS logged (id INT)", "INSERT INTO logged VALUES (1)")
    source = source_create(
        tenant=tenant_a,
        user=alice,
        data={"name": "logged", "url": maria_db.url(), "table": "logged"},
    )
    source_test(source=source, user=alice)
    source_preview(source=source, user=alice)
    source_pull(source=source, user=alice)
    source_update(
        source=source, user=alice, data={"password": "Another-Secret-42", "host": "127.0.0.1"}
    )
    with pytest.raises(SourceError):
        source_pull(
            source=source, user=alice
        )  # wrong password now: the failure is logged and audited
    source_update(
        source=source, user=alice, data={"url": maria_db.url().replace("127.0.0.1", "localhost")}
    )
    events = list(AuditEvent.objects.filter(target_type="sources.source"))
    assert {e.action for e in events} >= {
        "source.created", "source.tested", "source.previewed", "source.pulled",
        "source.updated", "source.pull_failed",
    }  # fmt: skip
    trail = json.dumps([e.details for e in events])
    for secret in (PASSWORD, "Another-Secret-42"):
        assert secret not in caplog.text
        assert secret not in trail
        assert secret not in repr(source) and secret not in source.address()


def test_the_edit_page_never_shows_the_password_and_blank_keeps_it(
    maria_source, alice_client, tenant_a
):
    url = reverse("sources:edit", args=[tenant_a.slug, maria_source.pk])
    page = alice_client.get(url).content.decode()
    assert "•••• set" in page and PASSWORD not in page
    stored = _raw_column(maria_source)
    form = {
        "name": "maria renamed", "kind": "mysql", "host": "127.0.0.1", "port": "3306",
        "database": maria_source.database, "username": maria_source.username, "password": "",
        "table": "secret_rows", "watermark_column": "id", "statement_timeout_seconds": "30",
        "row_cap": "1000", "columns_cap": "50",
    }  # fmt: skip
    response = alice_client.post(url, form)
    assert response.status_code == 302
    maria_source.refresh_from_db()
    assert maria_source.name == "maria renamed" and _raw_column(maria_source) == stored


def test_the_api_never_returns_the_password(maria_source, alice, tenant_a):
    from tests.web.api.conftest import Api, make_token

    api = Api(make_token(alice, tenant_a)[1])
    body = api.get(f"/sources/{maria_source.pk}").content.decode()
    assert PASSWORD not in body and maria_source.password_encrypted not in body
    assert json.loads(body)["password_set"] is True


def test_a_new_key_first_keeps_old_secrets_readable_and_reencrypt_moves_them(
    settings, maria_source, alice
):
    old = _raw_column(maria_source)
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PYNOMALY_SECRETS_KEYS = [first]
    source_update(source=maria_source, user=alice, data={"password": PASSWORD})
    under_first = _raw_column(maria_source)
    assert under_first != old

    settings.PYNOMALY_SECRETS_KEYS = [second, first]  # rotation: the new key first, the old kept
    assert secrets.decrypt(under_first) == PASSWORD
    call_command("reencrypt_secrets")
    under_second = _raw_column(maria_source)
    assert under_second != under_first

    settings.PYNOMALY_SECRETS_KEYS = [second]  # the old key dropped: still readable
    maria_source.refresh_from_db()
    assert source_pull(source=maria_source, user=alice).rows == 2
    assert AuditEvent.objects.filter(action="sources.reencrypted").exists()


def test_a_credential_no_key_reads_is_a_clear_error_not_a_crash(settings, maria_source, alice):
    settings.PYNOMALY_SECRETS_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SourceError, match="cannot be decrypted"):
        source_pull(source=maria_source, user=alice)


def test_production_refuses_to_start_without_a_secrets_key():
    env = {k: v for k, v in os.environ.items() if k != "PYNOMALY_SECRETS_KEYS"}
    env.update(PYNOMALY_ENV="production", SECRET_KEY="x" * 60, ALLOWED_HOSTS="example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "PYNOMALY_SECRETS_KEYS must be set" in result.stderr
