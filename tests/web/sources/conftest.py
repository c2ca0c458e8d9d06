"""Real PostgreSQL and MariaDB databases for the source tests: created per test module, dropped after.

Each gets its own name (``pyn_src_<pid>_<n>``), so parallel suites on one machine never meet.
The tests read them as a workspace's source would, over TCP on loopback (which the development
and test defaults of PYNOMALY_OUTBOUND_ALLOW allow).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import pytest

from tests.web.api.conftest import alice_api, bob_api, charlie_api, vera_api  # noqa: F401

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "s3cr3t-Pa55word-never-shown"
_names = itertools.count()


def _name() -> str:
    return f"pyn_src_{os.getpid()}_{next(_names)}"


@dataclass
class Db:
    kind: str
    name: str
    user: str
    password: str
    port: int

    def url(self, host: str = "127.0.0.1") -> str:
        return f"{self.kind}://{self.user}:{self.password}@{host}:{self.port}/{self.name}"

    def execute(self, *statements: str, params=None) -> None:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.url(), autocommit=True) as c:
                for s in statements:
                    c.execute(s.encode(), params)
        else:
            import pymysql

            c = pymysql.connect(host="127.0.0.1", user="root", database=self.name, autocommit=True)
            try:
                with c.cursor() as cur:
                    for s in statements:
                        cur.execute(s, params)
            finally:
                c.close()

    def executemany(self, statement: str, rows) -> None:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.url(), autocommit=True) as c:
                with c.cursor() as cur:
                    cur.executemany(statement.encode(), rows)
        else:
            import pymysql

            c = pymysql.connect(host="127.0.0.1", user="root", database=self.name, autocommit=True)
            try:
                with c.cursor() as cur:
                    cur.executemany(statement, rows)
            finally:
                c.close()


@pytest.fixture(scope="module")
def pg_db():
    """A PostgreSQL database and a login role with a password, both dropped afterwards."""
    import psycopg

    name = _name()
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{PASSWORD}'".encode())
        c.execute(f'CREATE DATABASE "{name}" OWNER "{name}"'.encode())
    db = Db("postgresql", name, name, PASSWORD, 5432)
    try:
        yield db
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
            c.execute(f'DROP ROLE IF EXISTS "{name}"'.encode())


@pytest.fixture(scope="module")
def maria_db():
    """A MariaDB database and a user with a password on it, both dropped afterwards."""
    import pymysql

    name = _name()
    c = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    try:
        with c.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{PASSWORD}'")
            cur.execute(f"CREATE USER '{name}'@'localhost' IDENTIFIED BY '{PASSWORD}'")
            cur.execute(f"GRANT ALL ON `{name}`.* TO '{name}'@'%'")
            cur.execute(f"GRANT ALL ON `{name}`.* TO '{name}'@'localhost'")
    finally:
        c.close()
    db = Db("mysql", name, name, PASSWORD, 3306)
    try:
        yield db
    finally:
        c = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
        try:
            with c.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")
                cur.execute(f"DROP USER IF EXISTS '{name}'@'localhost'")
        finally:
            c.close()


@pytest.fixture(params=["postgresql", "mysql"])
def remote_db(request):
    """Each test using it runs once against PostgreSQL and once against MariaDB."""
    return request.getfixturevalue("pg_db" if request.param == "postgresql" else "maria_db")


@pytest.fixture
def sqlite_dir(tmp_path, settings):
    directory = tmp_path / "sources"
    directory.mkdir()
    settings.PYNOMALY_SOURCE_SQLITE_DIR = str(directory)
    return directory
