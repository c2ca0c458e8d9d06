"""The app can run as a PostgreSQL role that owns nothing: `db_app_role` creates it, and as
that role the app records audit events but cannot change, delete, truncate or unprotect them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apps.audit.chain import verify
from apps.audit.models import AuditEvent

ROOT = Path(__file__).resolve().parents[3]

# Run by the app's own code in a separate process connected as the new role.
AS_ROLE = r"""
import json, django
django.setup()
from django.db import connection, transaction
from apps.audit.services import audit_record
from apps.tenants.models import Tenant

tenant = Tenant.objects.get(slug=TENANT_SLUG)
out = {"user": None, "errors": {}}
with connection.cursor() as c:
    c.execute("SELECT current_user")
    out["user"] = c.fetchone()[0]
event = audit_record(action="test.as_role", tenant=tenant, details={"ok": True})
out["recorded"] = event.pk
tenant.name = "Renamed by the app role"
tenant.save(update_fields=["name"])  # ordinary tables stay writable
attempts = {
    "update": "UPDATE audit_auditevent SET action = 'x'",
    "delete": "DELETE FROM audit_auditevent",
    "truncate": "TRUNCATE audit_auditevent",
    "disable_trigger": "ALTER TABLE audit_auditevent DISABLE TRIGGER USER",
    "drop_trigger": "DROP TRIGGER audit_auditevent_append_only ON audit_auditevent",
    "create_table": "CREATE TABLE sneaky (id int)",
    "truncate_other": "TRUNCATE tenants_tenant CASCADE",
}
for name, sql in attempts.items():
    try:
        with transaction.atomic(), connection.cursor() as c:
            c.execute(sql)
        out["errors"][name] = None
    except Exception as exc:
        out["errors"][name] = str(exc).splitlines()[0]
print(json.dumps(out))
"""


@pytest.fixture
def app_role(transactional_db, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("database roles need PostgreSQL")
    role = f"pynomaly_app_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TEST_APP_ROLE_PASSWORD", "correct horse battery")
    yield role
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone()[0]:
            cursor.execute(f'DROP OWNED BY "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


def test_it_prints_the_sql_without_the_password(app_role):
    out = StringIO()
    call_command(
        "db_app_role", "--role", app_role, "--password-env", "TEST_APP_ROLE_PASSWORD", stdout=out
    )
    sql = out.getvalue()
    assert f'CREATE ROLE "{app_role}" LOGIN NOSUPERUSER' in sql
    assert f'REVOKE UPDATE, DELETE, TRUNCATE ON "public".audit_auditevent FROM "{app_role}"' in sql
    assert "ALTER DEFAULT PRIVILEGES FOR ROLE" in sql
    assert "correct horse" not in sql
    with connection.cursor() as cursor:  # printing changed nothing
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [app_role])
        assert cursor.fetchone()[0] == 0


def test_it_refuses_a_role_name_that_is_not_plain(app_role):
    with pytest.raises(CommandError, match="not a plain role name"):
        call_command("db_app_role", "--role", 'x"; DROP TABLE y; --', stdout=StringIO())


def test_as_the_app_role_audit_events_are_appended_but_never_changed(app_role, tenant_a):
    call_command(
        "db_app_role",
        "--role",
        app_role,
        "--password-env",
        "TEST_APP_ROLE_PASSWORD",
        "--apply",
        stdout=StringIO(),
    )
    # A table a later migration creates (as the owner) is usable by the role at once.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE later_table (id serial PRIMARY KEY, v int)")
    s = connection.settings_dict
    url = (
        f"postgres://{app_role}:correct%20horse%20battery@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}"
    )
    script = AS_ROLE.replace("TENANT_SLUG", repr(tenant_a.slug)) + (
        "\nwith connection.cursor() as c:\n"
        "    c.execute('INSERT INTO later_table (v) VALUES (1)')\n"
        "print(json.dumps({'later_table': 'ok'}))\n"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    out, later = json.loads(lines[-2]), json.loads(lines[-1])
    assert out["user"] == app_role
    assert AuditEvent.objects.filter(pk=out["recorded"], action="test.as_role").exists()
    errors = out["errors"]
    assert "permission denied" in errors["update"]
    assert "permission denied" in errors["delete"]
    assert "permission denied" in errors["truncate"]
    assert "must be owner" in errors["disable_trigger"]
    assert "must be owner" in errors["drop_trigger"]
    assert "permission denied" in errors["create_table"]
    assert "permission denied" in errors["truncate_other"]
    assert later == {"later_table": "ok"}
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Renamed by the app role"
    assert verify(AuditEvent.objects.all()).intact
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE later_table")
