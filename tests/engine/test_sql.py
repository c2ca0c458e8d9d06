"""pynomaly.sql without a server: SQL text, quoting, watermarks, values, and SQLite reads."""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3
import uuid

import pytest

from pynomaly import sql


def test_identifiers_are_quoted_for_each_dialect():
    assert sql.quote_identifier('we"ird.t`b', "postgresql") == '"we""ird"."t`b"'
    assert sql.quote_identifier("s.t`b", "mysql") == "`s`.`t``b`"
    with pytest.raises(sql.SourceFailure):
        sql.quote_identifier("a..b", "postgresql")


def test_only_one_select_passes():
    assert sql.check_select("  SELECT 1 ; ") == "SELECT 1"
    assert sql.check_select("WITH x AS (SELECT 1 AS a) SELECT a FROM x").startswith("WITH")
    for bad, word in [("DELETE FROM t", "delete"), ("SELECT 1; SELECT 2", "2 statements"),
                      ("", "empty"), ("VACUUM", "not a SELECT")]:  # fmt: skip
        with pytest.raises(sql.SourceFailure, match=word):
            sql.check_select(bad)


def test_an_incremental_read_filters_orders_and_limits_with_a_parameter():
    read = sql.Read(query="SELECT * FROM t WHERE name LIKE 'a%'", watermark_column="id",
                    watermark=sql.Watermark("int", "41"))  # fmt: skip
    text, params = sql.build_select(read, "postgresql", 11)
    assert text == (
        "SELECT * FROM (SELECT * FROM t WHERE name LIKE 'a%%') AS pynomaly_src "
        'WHERE "id" > %s ORDER BY "id" LIMIT 11'
    )
    assert params == (41,)
    text, params = sql.build_select(sql.Read(table="s.t", columns=("a", "b")), "mysql", 5)
    assert (text, params) == ("SELECT `a`, `b` FROM `s`.`t` LIMIT 5", ())


@pytest.mark.parametrize(
    "value",
    [7, 2.5, decimal.Decimal("3.25"), dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
     dt.date(2026, 1, 2), "abc"],
)  # fmt: skip
def test_a_watermark_reads_back_as_what_it_was(value):
    mark = sql.Watermark.of(value)
    expected = float(value) if isinstance(value, decimal.Decimal) else value
    assert mark.value() == expected


def test_values_arrow_cannot_hold_become_text():
    frame = sql._frame(
        ["n", "d", "u", "mixed"],
        [(1, decimal.Decimal("1.5"), uuid.UUID(int=1), "a"), (None, None, None, 2)],
    )
    assert frame["d"].dtype == float and frame["u"][0] == str(uuid.UUID(int=1))
    assert list(frame["mixed"]) == ["a", "2"]


@pytest.fixture
def db(tmp_path):
    with sqlite3.connect(tmp_path / "d.db") as c:
        c.execute("CREATE TABLE t (id INTEGER, v REAL)")
        c.executemany("INSERT INTO t VALUES (?, ?)", [(i, i / 2) for i in range(1, 11)])
    return sql.Target(kind="sqlite", database="d.db", sqlite_dir=str(tmp_path))


def test_sqlite_reads_incrementally_and_refuses_past_the_caps(db):
    got = sql.fetch(db, sql.Read(table="t", watermark_column="id",
                                 watermark=sql.Watermark("int", "7")), sql.Limits())  # fmt: skip
    assert list(got.frame["id"]) == [8, 9, 10] and got.watermark == sql.Watermark("int", "10")
    with pytest.raises(sql.SourceLimit, match=r"more than 9 rows \(the source's row cap\)"):
        sql.fetch(db, sql.Read(table="t"), sql.Limits(row_cap=9))
    with pytest.raises(sql.SourceLimit, match="columns cap"):
        sql.fetch(db, sql.Read(table="t"), sql.Limits(columns_cap=1))
    assert sql.probe(db, sql.Read(table="t"), sql.Limits())[1] == ["id", "v"]
    assert len(sql.preview(db, sql.Read(table="t"), sql.Limits(), rows=3).frame) == 3


def test_sqlite_stops_at_the_timeout_and_cannot_write_or_leave_its_directory(db):
    forever = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) AS m FROM c"
    )
    with pytest.raises(
        sql.SourceLimit, match=r"longer than 1 s \(the source's statement timeout\)"
    ):
        sql.fetch(db, sql.Read(query=forever), sql.Limits(statement_timeout_seconds=1))
    with pytest.raises(sql.SourceFailure, match="must name a file inside"):
        sql.fetch(sql.Target(kind="sqlite", database="../x.db", sqlite_dir=db.sqlite_dir),
                  sql.Read(table="t"), sql.Limits())  # fmt: skip
    with pytest.raises(sql.SourceFailure, match="watermark column 'nope'"):
        sql.fetch(db, sql.Read(table="t", columns=("v",), watermark_column="nope"), sql.Limits())
