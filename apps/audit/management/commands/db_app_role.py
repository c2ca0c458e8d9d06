"""``manage.py db_app_role --role NAME``: a PostgreSQL role for running the app that owns nothing.

The owner of a table can switch its triggers off and TRUNCATE it, so the role that migrations
run as (the owner) should not be the role the web and worker processes use. This prints (or
with ``--apply`` runs, as the owner) the SQL for a login role that may read and write the
application's tables, may only INSERT and SELECT on the audit trail, can never TRUNCATE,
create objects or alter them, and receives the same rights on tables later migrations create.
"""

from __future__ import annotations

import os
import re

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.audit.db import TABLE as AUDIT_TABLE

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _ident(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise CommandError(f"{name!r} is not a plain role name (lower case letters, digits, _).")
    return f'"{name}"'


def role_sql(*, role: str, owner: str, database: str, schema: str = "public") -> list[str]:
    """The statements, without the password (set separately so it is never printed)."""
    r, o, s = _ident(role), _ident(owner), _ident(schema)
    d = '"' + database.replace('"', '""') + '"'
    create = (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
        f"CREATE ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS; "
        "END IF; END $$"
    )
    return [
        create,
        f"ALTER ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
        f"GRANT CONNECT ON DATABASE {d} TO {r}",
        f"REVOKE CREATE ON DATABASE {d} FROM {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"REVOKE CREATE ON SCHEMA {s} FROM {r}",
        # Every table now there: rows in and out, nothing else (no TRUNCATE, TRIGGER, REFERENCES).
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        # The audit trail: append and read only. The migration record: read only.
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {s}.{AUDIT_TABLE} FROM {r}",
        f"REVOKE INSERT, UPDATE, DELETE ON {s}.django_migrations FROM {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        # Tables and sequences that later migrations (run as the owner) create.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {r}",
    ]


class Command(BaseCommand):
    help = (
        "Print (or --apply) the SQL for a PostgreSQL login role that runs the app without "
        "owning anything: DML on the app's tables, INSERT/SELECT only on the audit trail, "
        "no TRUNCATE, no DDL. Run it as the owner (the role migrations use)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", required=True, help="name of the role to create or update")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="environment variable holding the role's password (set with --apply only)",
        )
        parser.add_argument(
            "--apply", action="store_true", help="run the SQL now instead of printing it"
        )

    def handle(self, *args, role, password_env=None, apply=False, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Database roles need PostgreSQL; this database is SQLite.")
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"The environment variable {password_env} is empty or unset.")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database()")
            owner, database = cursor.fetchone()
        if owner == role:
            raise CommandError("Run this as the tables' owner, not as the role it creates.")
        statements = role_sql(role=role, owner=owner, database=database)
        if not apply:
            for sql in statements:
                self.stdout.write(sql + ";")
            if password_env:
                self.stdout.write(
                    f"ALTER ROLE {_ident(role)} PASSWORD '…';  -- from ${password_env}, with --apply"
                )
            return
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
            if password is not None:
                cursor.execute(f"ALTER ROLE {_ident(role)} PASSWORD %s", [password])
        self.stdout.write(
            f"Role {role} can now run the app on {database}: "
            f"no TRUNCATE, no DDL, audit trail INSERT/SELECT only."
        )
