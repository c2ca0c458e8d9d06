"""Pulling real PostgreSQL and MariaDB tables into dataset versions: incremental, limited, read-only."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from apps.datasets.models import DatasetVersion
from apps.sources.models import Source
from apps.sources.services import SourceError, source_create, source_pull, source_update
from pynomaly.data import read_parquet

_tables = itertools.count()


def _table(db, rows: int = 0) -> str:
    name = f"readings_{next(_tables)}"
    auto = "SERIAL PRIMARY KEY" if db.kind == "postgresql" else "INT AUTO_INCREMENT PRIMARY KEY"
    db.execute(
        f"CREATE TABLE {name} (id {auto}, ts TIMESTAMP, value DOUBLE PRECISION, kind VARCHAR(10))"
    )
    _insert(db, name, 0, rows)
    return name


def _insert(db, table: str, start: int, count: int) -> None:
    rows = [
        (
            f"2026-01-01 00:{(start + i) // 60:02d}:{(start + i) % 60:02d}",
            float(start + i),
            "a" if i % 2 else "b",
        )
        for i in range(count)
    ]
    if rows:
        db.executemany(f"INSERT INTO {table} (ts, value, kind) VALUES (%s, %s, %s)", rows)


def _source(tenant, user, db, **fields) -> Source:
    data = {"name": f"src-{next(_tables)}", "url": db.url(), **fields}
    return source_create(tenant=tenant, user=user, data=data)


def test_a_pull_becomes_a_profiled_version_and_the_next_reads_only_new_rows(
    tenant_a, alice, remote_db
):
    table = _table(remote_db, rows=50)
    source = _source(tenant_a, alice, remote_db, table=table, watermark_column="id")

    first = source_pull(source=source, user=alice)
    assert isinstance(first, DatasetVersion)
    assert (first.number, first.rows) == (1, 50)
    assert len(first.sha256) == 64 and first.profile  # hashed and profiled like an upload
    source.refresh_from_db()
    assert source.dataset_id == first.dataset_id
    assert (source.watermark_value, source.watermark_type, source.last_error) == ("50", "int", "")

    _insert(remote_db, table, 50, 10)
    second = source_pull(source=source, user=alice)
    assert (second.number, second.rows, second.dataset_id) == (2, 10, first.dataset_id)
    frame = read_parquet(second.parquet.path)
    assert sorted(frame["id"]) == list(range(51, 61))
    assert source_pull(source=source, user=alice) is None  # nothing new
    source.refresh_from_db()
    assert source.watermark_value == "60" and source.last_pull_rows == 0


def test_a_timestamp_watermark_and_a_query_read_only_later_rows(tenant_a, alice, remote_db):
    table = _table(remote_db, rows=30)
    source = _source(
        tenant_a, alice, remote_db,
        query=f"SELECT ts, value, kind FROM {table} WHERE kind LIKE '%'",
        watermark_column="ts",
    )  # fmt: skip
    assert source_pull(source=source, user=alice).rows == 30
    source.refresh_from_db()
    assert source.watermark_type == "datetime"
    _insert(remote_db, table, 30, 5)
    version = source_pull(source=source, user=alice)
    frame = read_parquet(version.parquet.path)
    assert version.rows == 5 and frame["value"].min() == 30.0
    assert pd.api.types.is_datetime64_any_dtype(frame["ts"])


def test_the_row_cap_refuses_and_names_itself_and_the_watermark_stays(tenant_a, alice, remote_db):
    table = _table(remote_db, rows=25)
    source = _source(tenant_a, alice, remote_db, table=table, watermark_column="id", row_cap=20)
    with pytest.raises(SourceError) as err:
        source_pull(source=source, user=alice)
    assert err.value.message == "The query returned more than 20 rows (the source's row cap)."
    source.refresh_from_db()
    assert source.last_error == err.value.message
    assert source.watermark_value == "" and source.dataset_id is None
    assert source.pulling_since is None  # the claim is released: the next pull may run


def test_the_columns_cap_refuses_and_names_itself(tenant_a, alice, remote_db):
    table = _table(remote_db, rows=3)
    source = _source(tenant_a, alice, remote_db, table=table, columns_cap=2)
    with pytest.raises(
        SourceError, match=r"returns 4 columns, more than 2 \(the source's columns cap\)"
    ):
        source_pull(source=source, user=alice)


def test_a_slow_query_stops_at_the_statement_timeout(tenant_a, alice, remote_db):
    sleep = "SELECT pg_sleep(5) AS x" if remote_db.kind == "postgresql" else "SELECT SLEEP(5) AS x"
    source = _source(tenant_a, alice, remote_db, query=sleep, statement_timeout_seconds=1)
    with pytest.raises(SourceError) as err:
        source_pull(source=source, user=alice)
    assert err.value.message == "The query ran longer than 1 s (the source's statement timeout)."


def test_a_write_statement_is_refused_before_it_is_saved(tenant_a, alice, remote_db):
    table = _table(remote_db, rows=3)
    with pytest.raises(SourceError) as err:
        _source(tenant_a, alice, remote_db, query=f"DELETE FROM {table}")
    assert "Only a read-only SELECT" in err.value.message_dict["query"][0]
    with pytest.raises(SourceError) as err:
        _source(tenant_a, alice, remote_db, query=f"SELECT 1; DROP TABLE {table}")
    assert "2 statements" in err.value.message_dict["query"][0]


def test_a_select_that_writes_is_stopped_by_the_read_only_transaction(tenant_a, alice, remote_db):
    table = _table(remote_db, rows=3)
    if remote_db.kind == "postgresql":
        remote_db.execute(f"CREATE SEQUENCE {table}_seq")
        query = f"SELECT nextval('{table}_seq') AS n"
    else:
        remote_db.execute(
            f"CREATE FUNCTION {table}_wipe() RETURNS INT MODIFIES SQL DATA "
            f"BEGIN DELETE FROM {table}; RETURN 1; END"
        )
        query = f"SELECT {table}_wipe() AS n"
    source = _source(tenant_a, alice, remote_db, query=query)
    with pytest.raises(SourceError) as err:
        source_pull(source=source, user=alice)
    assert "sources only read" in err.value.message
    source_update(source=source, user=alice, data={"query": f"SELECT COUNT(*) AS n FROM {table}"})
    count = source_pull(source=source, user=alice)
    assert read_parquet(count.parquet.path)["n"].tolist() == [3]  # nothing was deleted


def test_a_wrong_password_is_a_clear_connection_error(tenant_a, alice, remote_db):
    table = _table(remote_db, rows=1)
    source = _source(tenant_a, alice, remote_db, table=table)
    # PostgreSQL here trusts loopback connections, so a role that does not exist stands in.
    wrong = {"password": "not-the-password"}
    if remote_db.kind == "postgresql":
        wrong["username"] = "no_such_role"
    source_update(source=source, user=alice, data=wrong)
    with pytest.raises(SourceError) as err:
        source_pull(source=source, user=alice)
    assert err.value.message.startswith("Could not connect to ")
    assert "not-the-password" not in err.value.message
