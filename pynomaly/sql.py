"""Read rows from a SQL database (PostgreSQL, MySQL/MariaDB, SQLite) into a DataFrame, read-only.

The web app's database sources call :func:`fetch`, :func:`preview` and :func:`probe`; this
module knows nothing of Django, so it takes plain dataclasses. It never decides *where* it
may connect: the caller resolves and checks the host first (``apps.common.netguard``) and
passes the checked IP as ``Target.hostaddr``, which is what the driver connects to (the name
is kept for TLS and messages), so a second DNS answer cannot redirect the connection.

Every read is one SELECT (checked with sqlparse), run in a read-only transaction with a
statement timeout (PostgreSQL ``SET TRANSACTION READ ONLY`` + ``statement_timeout``;
MySQL ``START TRANSACTION READ ONLY`` + ``max_execution_time``, MariaDB
``max_statement_time``; SQLite opened ``mode=ro`` with ``query_only`` and a progress-handler
deadline), wrapped so the database itself stops at the row cap (``LIMIT cap + 1``). Each
limit is named in its refusal.

Incremental reads filter on a watermark column (``> last value``, ordered by it); the
largest value read comes back as a :class:`Watermark`, typed, to store and pass back next time.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pynomaly.errors import DataError, LimitExceeded

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KINDS",
    "Fetched",
    "Limits",
    "Read",
    "SourceFailure",
    "SourceLimit",
    "Target",
    "Watermark",
    "check_select",
    "fetch",
    "preview",
    "probe",
    "quote_identifier",
    "sqlite_file",
]

KINDS = ("postgresql", "mysql", "sqlite")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "sqlite": 0}
_BATCH = 10_000


class SourceFailure(DataError):
    """The database could not be read: connection, permission, timeout, refusal (message says which)."""

    def __init__(self, message: str, *, reason: str = "failed"):
        super().__init__(message)
        self.reason = reason


class SourceLimit(SourceFailure, LimitExceeded):
    """A read went past one of the source's :class:`Limits` (the message names it)."""


@dataclass(frozen=True)
class Target:
    """Where to connect. ``hostaddr`` is the already checked IP; ``password`` is never shown."""

    kind: str
    database: str
    host: str = ""
    hostaddr: str = ""
    port: int = 0
    username: str = ""
    password: str = field(default="", repr=False)
    options: dict[str, str] = field(default_factory=dict)
    sqlite_dir: str = ""

    def label(self) -> str:
        if self.kind == "sqlite":
            return f"SQLite file {self.database}"
        name = "PostgreSQL" if self.kind == "postgresql" else "MySQL/MariaDB"
        return f"{name} at {self.host}:{self.port}"


@dataclass(frozen=True)
class Watermark:
    """The last watermark value read, with its type so the next read compares like with like."""

    type: str  # int | float | datetime | date | text
    text: str

    def value(self) -> Any:
        if self.type == "int":
            return int(self.text)
        if self.type == "float":
            return float(self.text)
        if self.type == "datetime":
            return dt.datetime.fromisoformat(self.text)
        if self.type == "date":
            return dt.date.fromisoformat(self.text)
        return self.text

    @classmethod
    def of(cls, value: Any) -> Watermark | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if hasattr(value, "to_pydatetime"):  # pandas Timestamp
            value = value.to_pydatetime()
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
            value = value.item()
        if isinstance(value, bool):
            return cls("int", str(int(value)))
        if isinstance(value, int):
            return cls("int", str(value))
        if isinstance(value, (float, decimal.Decimal)):
            return cls("float", repr(float(value)))
        if isinstance(value, dt.datetime):
            return cls("datetime", value.isoformat())
        if isinstance(value, dt.date):
            return cls("date", value.isoformat())
        return cls("text", str(value))


@dataclass(frozen=True)
class Read:
    """What to read: a SELECT, or a table and its columns (all when empty); optional watermark."""

    query: str = ""
    table: str = ""
    columns: tuple[str, ...] = ()
    watermark_column: str = ""
    watermark: Watermark | None = None


@dataclass(frozen=True)
class Limits:
    statement_timeout_seconds: int = 30
    row_cap: int = 1_000_000
    columns_cap: int = 500
    connect_timeout_seconds: int = 10


@dataclass
class Fetched:
    frame: pd.DataFrame
    watermark: Watermark | None
    server: str
    truncated: bool = False


# ------------------------------------------------------------------ SQL text


def quote_identifier(name: str, kind: str) -> str:
    """``name`` quoted for ``kind`` ("a.b" is schema a, table b); refuses empty parts and NUL."""
    if not name or "\x00" in name:
        raise SourceFailure(f"{name!r} is not a valid identifier.", reason="identifier")
    q = "`" if kind == "mysql" else '"'
    return ".".join(q + part.replace(q, q + q) + q for part in _split_dotted(name))


def _split_dotted(name: str) -> list[str]:
    parts = [p.strip() for p in name.split(".")]
    if any(not p for p in parts) or len(parts) > 3:
        raise SourceFailure(f"{name!r} is not a valid table name.", reason="identifier")
    return parts


def _quote_column(name: str, kind: str) -> str:
    if not name or "\x00" in name:
        raise SourceFailure(f"{name!r} is not a valid column name.", reason="identifier")
    q = "`" if kind == "mysql" else '"'
    return q + name.replace(q, q + q) + q


def check_select(query: str) -> str:
    """``query`` without a trailing semicolon, if it is one SELECT; else :class:`SourceFailure`."""
    import sqlparse

    text = (query or "").strip()
    if "\x00" in text:
        raise SourceFailure("The query must not contain NUL characters.", reason="not_select")
    statements = [s for s in sqlparse.split(text) if s.strip().strip(";").strip()]
    if not statements:
        raise SourceFailure("The query is empty.", reason="not_select")
    if len(statements) > 1:
        raise SourceFailure(
            f"The query holds {len(statements)} statements; a source reads one SELECT.",
            reason="not_select",
        )
    text = statements[0].strip().rstrip(";").strip()
    kind = str(sqlparse.parse(text)[0].get_type())  # type: ignore[no-untyped-call]
    if kind != "SELECT":
        what = kind.lower() if kind and kind != "UNKNOWN" else "not a SELECT"
        raise SourceFailure(
            f"Only a read-only SELECT is allowed (this statement is {what}).", reason="not_select"
        )
    return text


def _placeholder(kind: str) -> str:
    return "?" if kind == "sqlite" else "%s"


def build_select(read: Read, kind: str, limit: int) -> tuple[str, tuple[Any, ...]]:
    """The SQL and parameters of one bounded read (``limit`` rows at most)."""
    with_param = bool(read.watermark_column and read.watermark is not None)
    if read.query:
        source = f"({check_select(read.query)}) AS pynomaly_src"
        cols = "*"
    elif read.table:
        source = quote_identifier(read.table, kind)
        cols = ", ".join(_quote_column(c, kind) for c in read.columns) if read.columns else "*"
    else:
        raise SourceFailure("Give a query or a table to read.", reason="nothing_to_read")
    sql = f"SELECT {cols} FROM {source}"
    params: tuple[Any, ...] = ()
    if read.watermark_column:
        wm = _quote_column(read.watermark_column, kind)
        if read.watermark is not None:
            sql += f" WHERE {wm} > \x00"
            params = (read.watermark.value(),)
        sql += f" ORDER BY {wm}"
    if with_param and kind != "sqlite":
        sql = sql.replace("%", "%%")  # the drivers format %s parameters into the text
    return f"{sql.replace(chr(0), _placeholder(kind))} LIMIT {int(limit)}", params


# ------------------------------------------------------------------ connections


def sqlite_file(directory: str, name: str) -> Path:
    """The database file ``name`` below ``directory``; refuses anything that resolves outside it."""
    if not directory:
        raise SourceFailure("No directory is configured for SQLite sources.", reason="sqlite_dir")
    base = Path(directory).resolve()
    candidate = (base / name).resolve()
    if not name or "\x00" in name or not candidate.is_relative_to(base) or candidate == base:
        raise SourceFailure(
            f"A SQLite source must name a file inside {base} (PYNOMALY_SOURCE_SQLITE_DIR).",
            reason="sqlite_dir",
        )
    if not candidate.is_file():
        raise SourceFailure(f"There is no SQLite file {name} in {base}.", reason="connect")
    return candidate


class _Session:
    """One open, read-only connection; ``run`` executes a bounded SELECT and returns rows."""

    def __init__(self, target: Target, limits: Limits) -> None:
        self.target, self.limits = target, limits
        self.server = ""
        self._close: Callable[[], None] = lambda: None
        self._run: Callable[[str, tuple[Any, ...]], tuple[list[str], list[tuple[Any, ...]]]]
        opener = {
            "postgresql": self._open_pg,
            "mysql": self._open_mysql,
            "sqlite": self._open_sqlite,
        }
        if target.kind not in opener:
            raise SourceFailure(f"Unknown kind of source {target.kind!r}.", reason="kind")
        opener[target.kind]()

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._close()
        except Exception:  # noqa: BLE001, S110 - closing a broken connection must not mask the error
            pass

    def run(self, sql: str, params: tuple[Any, ...]) -> tuple[list[str], list[tuple[Any, ...]]]:
        return self._run(sql, params)

    # -- PostgreSQL ------------------------------------------------------------------

    def _open_pg(self) -> None:
        import psycopg

        t, ms = self.target, self.limits.statement_timeout_seconds * 1000
        sslmode = t.options.get("sslmode") or None
        try:
            conn = psycopg.connect(
                host=t.host or None,
                hostaddr=t.hostaddr or None,
                port=t.port,
                dbname=t.database,
                user=t.username or None,
                password=t.password or None,
                passfile="/nonexistent/pynomaly-no-pgpass",  # never the server account's ~/.pgpass
                connect_timeout=self.limits.connect_timeout_seconds,
                application_name="pynomaly-source",
                options=f"-c statement_timeout={ms} -c default_transaction_read_only=on",
                gssencmode="disable",
                autocommit=False,
                sslmode=sslmode,
            )
        except psycopg.Error as exc:
            raise self._connect_failed(exc) from None
        self._close = conn.close
        self.server = "PostgreSQL " + _pg_version(conn.info.server_version)

        def run(sql: str, params: tuple[Any, ...]) -> tuple[list[str], list[tuple[Any, ...]]]:
            try:
                # Binary results: about twice as fast to decode as text (100k rows: 0.7 s vs 1.5 s).
                with conn.cursor(binary=True) as cur:
                    cur.execute("SET TRANSACTION READ ONLY")
                    cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(ms),))
                    cur.execute(sql.encode(), params or None, prepare=True)  # one statement only
                    names = [d.name for d in cur.description or []]
                    self._check_columns(names)
                    rows = _fetch_all(cur.fetchmany)
                conn.rollback()
                return names, rows
            except psycopg.errors.QueryCanceled:
                raise self._timeout() from None
            except psycopg.errors.ReadOnlySqlTransaction as exc:
                raise self._read_only(exc) from None
            except psycopg.Error as exc:
                raise self._query_failed(exc) from None

        self._run = run

    # -- MySQL / MariaDB -------------------------------------------------------------

    def _open_mysql(self) -> None:
        import pymysql

        t, secs = self.target, self.limits.statement_timeout_seconds
        try:
            conn = pymysql.connect(
                host=t.hostaddr or t.host,
                port=t.port,
                user=t.username or None,
                password=t.password or "",
                database=t.database or None,
                connect_timeout=self.limits.connect_timeout_seconds,
                # The server's own limit stops the statement; this one stops a server that hangs.
                read_timeout=secs + 15,
                write_timeout=secs + 15,
                charset="utf8mb4",
                autocommit=False,
                local_infile=False,
                init_command=None,
            )
        except pymysql.MySQLError as exc:
            raise self._connect_failed(exc) from None
        self._close = conn.close
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                row = cur.fetchone()
                version = str(row[0]) if row else ""
                mariadb = "mariadb" in version.lower()
                if mariadb:
                    cur.execute(f"SET SESSION max_statement_time = {int(secs)}")
                else:
                    cur.execute(f"SET SESSION max_execution_time = {int(secs) * 1000}")
        except pymysql.MySQLError as exc:
            conn.close()
            raise self._query_failed(exc) from None
        self.server = ("MariaDB " if mariadb else "MySQL ") + version.split("-")[0]

        def run(sql: str, params: tuple[Any, ...]) -> tuple[list[str], list[tuple[Any, ...]]]:
            try:
                with conn.cursor() as cur:
                    cur.execute("START TRANSACTION READ ONLY")
                    cur.execute(sql, params or None)
                    names = [str(d[0]) for d in cur.description or []]
                    self._check_columns(names)
                    rows = _fetch_all(cur.fetchmany)
                conn.rollback()
                return names, rows
            except pymysql.MySQLError as exc:
                code = exc.args[0] if exc.args else None
                if code in (1969, 3024, 1317, 2013):  # statement time exceeded / interrupted / lost
                    raise self._timeout() from None
                if code == 1792:  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
                    raise self._read_only(exc) from None
                raise self._query_failed(exc) from None

        self._run = run

    # -- SQLite ----------------------------------------------------------------------

    def _open_sqlite(self) -> None:
        path = sqlite_file(self.target.sqlite_dir, self.target.database)
        try:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
            conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            raise self._connect_failed(exc) from None
        self._close = conn.close
        self.server = f"SQLite {sqlite3.sqlite_version}"
        deadline = [0.0]
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), 10_000)

        def run(sql: str, params: tuple[Any, ...]) -> tuple[list[str], list[tuple[Any, ...]]]:
            deadline[0] = time.monotonic() + self.limits.statement_timeout_seconds
            try:
                cur = conn.execute(sql, params)
                names = [str(d[0]) for d in cur.description or []]
                self._check_columns(names)
                return names, _fetch_all(cur.fetchmany)
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if "interrupted" in text:
                    raise self._timeout() from None
                if "readonly" in text or "read-only" in text:
                    raise self._read_only(exc) from None
                raise self._query_failed(exc) from None
            except sqlite3.Error as exc:
                raise self._query_failed(exc) from None

        self._run = run

    # -- messages --------------------------------------------------------------------

    def _check_columns(self, names: Sequence[str]) -> None:
        cap = self.limits.columns_cap
        if len(names) > cap:
            raise SourceLimit(
                f"The query returns {len(names):,} columns, more than {cap:,} "
                "(the source's columns cap).",
                reason="columns_cap",
            )
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise SourceFailure(
                    f"The query returns the column {n!r} twice; give each column its own name.",
                    reason="duplicate_column",
                )
            seen.add(n)

    def _connect_failed(self, exc: BaseException) -> SourceFailure:
        return SourceFailure(
            f"Could not connect to {self.target.label()}: {_first_line(exc)}", reason="connect"
        )

    def _query_failed(self, exc: BaseException) -> SourceFailure:
        return SourceFailure(
            f"{self.target.label()} refused the query: {_first_line(exc)}", reason="query"
        )

    def _timeout(self) -> SourceLimit:
        return SourceLimit(
            f"The query ran longer than {self.limits.statement_timeout_seconds:,} s "
            "(the source's statement timeout).",
            reason="timeout",
        )

    def _read_only(self, exc: BaseException) -> SourceFailure:
        return SourceFailure(
            "The query tried to write, and sources only read (it ran in a read-only "
            f"transaction): {_first_line(exc)}",
            reason="read_only",
        )


def _pg_version(number: int) -> str:
    major, rest = divmod(number, 10000)
    return f"{major}.{rest}" if major >= 10 else f"{major}.{rest // 100}.{rest % 100}"


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[0], int) else exc)
    return (text.strip().splitlines() or [type(exc).__name__])[0][:300]


def _fetch_all(fetchmany: Callable[[int], Sequence[Any]]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    while batch := fetchmany(_BATCH):
        rows.extend(tuple(r) for r in batch)
    return rows


# ------------------------------------------------------------------ values → frame


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, (uuid.UUID, dt.time, dt.timedelta)):
        return str(value)
    return value


def _column(values: Sequence[Any]) -> Any:
    """One result column as a pandas Series, through Arrow (10x faster than pandas on datetimes)."""
    import pandas as pd
    import pyarrow as pa

    first = next((v for v in values if v is not None), None)
    if first is not None and not isinstance(first, (str, int, float, bool, dt.datetime, dt.date)):
        values = [None if v is None else _plain(v) for v in values]
    try:
        arr = pa.array(values)
        if pa.types.is_decimal(arr.type):
            arr = arr.cast(pa.float64())
        return arr.to_pandas()
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        # Mixed types (SQLite's dynamic typing) or values Arrow cannot hold: text, like an upload.
        return pd.Series([None if v is None else str(_plain(v)) for v in values], dtype=object)


def _frame(names: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    import pandas as pd

    if not rows:
        return pd.DataFrame({n: pd.Series([], dtype=object) for n in names}, columns=names)
    columns = list(zip(*rows, strict=True))
    return pd.DataFrame({n: _column(c) for n, c in zip(names, columns, strict=True)}, columns=names)


# ------------------------------------------------------------------ entry points


def fetch(target: Target, read: Read, limits: Limits) -> Fetched:
    """Every row past the watermark (all rows without one), refused past the row cap."""
    cap = limits.row_cap
    sql, params = build_select(read, target.kind, cap + 1)
    with _Session(target, limits) as session:
        names, rows = session.run(sql, params)
    if len(rows) > cap:
        raise SourceLimit(
            f"The query returned more than {cap:,} rows (the source's row cap).", reason="row_cap"
        )
    frame = _frame(names, rows)
    watermark = read.watermark
    if read.watermark_column:
        if read.watermark_column not in frame.columns:
            raise SourceFailure(
                f"The watermark column {read.watermark_column!r} is not among the columns read "
                f"({', '.join(map(str, frame.columns[:20]))}).",
                reason="watermark",
            )
        if len(frame):
            watermark = Watermark.of(frame[read.watermark_column].max()) or watermark
    return Fetched(frame=frame, watermark=watermark, server=session.server)


def preview(target: Target, read: Read, limits: Limits, rows: int = 20) -> Fetched:
    """The first ``rows`` rows of the read, ignoring the watermark (what the source looks like)."""
    sql, params = build_select(
        Read(query=read.query, table=read.table, columns=read.columns), target.kind, rows
    )
    with _Session(target, limits) as session:
        names, got = session.run(sql, params)
    return Fetched(frame=_frame(names, got), watermark=None, server=session.server)


def probe(target: Target, read: Read | None, limits: Limits) -> tuple[str, list[str]]:
    """Connect (and, given a read, check it with LIMIT 0): the server's name and the columns."""
    with _Session(target, limits) as session:
        columns: list[str] = []
        if read is not None and (read.query or read.table):
            sql, params = build_select(
                Read(query=read.query, table=read.table, columns=read.columns), target.kind, 0
            )
            columns, _ = session.run(sql, params)
        return session.server, columns
