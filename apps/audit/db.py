"""Database triggers that keep the audit table append-only below the ORM.

PostgreSQL: a row trigger refuses every UPDATE and DELETE on ``audit_auditevent``. TRUNCATE is
a statement-level operation the row trigger does not see; it is what ``manage.py flush`` (and
so pytest-django between transactional tests) uses to wipe a whole database, and the
application never issues it. Revoking TRUNCATE from the application's role is the operator's
next step where the database user is shared.

SQLite: UPDATE is refused always. ``flush`` on SQLite is ``DELETE FROM`` every table, so a plain
DELETE trigger would make the database impossible to wipe (and break test teardown). The DELETE
trigger therefore asks a function, ``pynomaly_audit_flushing()``, which this module registers on
every connection Django opens and which answers 1 only while that connection runs Django's
``execute_sql_flush`` (the whole-database wipe). Any other DELETE — ORM, raw SQL from the app —
is refused; a connection that does not know the function (the sqlite3 shell) fails with
"no such function", which refuses the DELETE too.

A table rebuild (SQLite's way of altering a column) drops triggers, so they are also
re-installed after every ``migrate`` (post_migrate), idempotently.
"""

from __future__ import annotations

from django.db.backends.signals import connection_created
from django.dispatch import receiver

TABLE = "audit_auditevent"
MESSAGE = "audit events are append-only"

POSTGRES_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
    f"DROP TRIGGER IF EXISTS audit_auditevent_append_only ON {TABLE}",
    f"""
    CREATE TRIGGER audit_auditevent_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only()
    """,
]
POSTGRES_REMOVE = [
    f"DROP TRIGGER IF EXISTS audit_auditevent_append_only ON {TABLE}",
    "DROP FUNCTION IF EXISTS audit_auditevent_append_only()",
]
SQLITE_INSTALL = [
    f"""
    CREATE TRIGGER IF NOT EXISTS audit_auditevent_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS audit_auditevent_no_delete BEFORE DELETE ON {TABLE}
    WHEN pynomaly_audit_flushing() = 0
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
    """,
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete",
]


def install_triggers(connection) -> None:
    if triggers_installed(connection):
        return
    statements = {"postgresql": POSTGRES_INSTALL, "sqlite": SQLITE_INSTALL}.get(
        connection.vendor, []
    )
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def remove_triggers(connection) -> None:
    statements = {"postgresql": POSTGRES_REMOVE, "sqlite": SQLITE_REMOVE}.get(connection.vendor, [])
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def triggers_installed(connection) -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_auditevent_append_only'"
            )
            return cursor.fetchone()[0] == 1
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [TABLE],
            )
            return cursor.fetchone()[0] == 2
    return False


@receiver(connection_created, dispatch_uid="audit-sqlite-flush-flag")
def _register_flush_flag(sender, connection, **kwargs) -> None:
    if connection.vendor != "sqlite":
        return
    connection.connection.create_function(
        "pynomaly_audit_flushing",
        0,
        lambda: 1 if getattr(connection, "_audit_flushing", False) else 0,
    )
    ops = connection.ops
    if getattr(ops, "_audit_flush_wrapped", False):
        return
    original = type(ops).execute_sql_flush

    def execute_sql_flush(sql_list):
        connection._audit_flushing = True
        try:
            return original(ops, sql_list)
        finally:
            connection._audit_flushing = False

    ops.execute_sql_flush = execute_sql_flush
    ops._audit_flush_wrapped = True
