"""``pynomaly sources …``: database sources on the server you are logged in to.

Passwords are never command-line arguments (other users can read those in ``ps``): give them
with ``--password-stdin``, ``--ask-password`` (a prompt without echo), or inside ``--url``
only on a machine of your own.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TYPE_CHECKING, Any

from pynomaly.cli import _command, _positive_int
from pynomaly.cli_output import EXIT_OK, UsageError, _table

if TYPE_CHECKING:
    from pynomaly.cli import Commands


def add_sources_command(commands: Commands) -> None:
    p = _command(
        commands,
        "sources",
        "database sources on the server (admins): add, test, preview, pull",
        "SQL databases the server reads rows from; each pull becomes a dataset version.",
        """\
        examples:
          pynomaly sources add orders --url postgresql://reader@db.example.com/shop \\
              --table public.orders --watermark created_at --ask-password
          pynomaly sources test 3
          pynomaly sources preview 3
          pynomaly sources pull 3
          pynomaly sources list
        """,
    )
    sub = p.add_subparsers(dest="sources_command", metavar="SUBCOMMAND", required=True)
    ls = sub.add_parser("list", help="list sources")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=cmd_sources_list)

    add = sub.add_parser("add", help="register a source")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--url", help="postgresql://user@host:5432/db, mysql://…, sqlite:///file.db")
    add.add_argument("--kind", choices=("postgresql", "mysql", "sqlite"))
    add.add_argument("--host")
    add.add_argument("--port", type=_positive_int)
    add.add_argument("--database")
    add.add_argument("--username")
    pw = add.add_mutually_exclusive_group()
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    pw.add_argument("--ask-password", action="store_true", help="prompt for it (no echo)")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--query", help="one read-only SELECT")
    what.add_argument("--table", help="a table (schema.table) to read")
    add.add_argument("--column", action="append", default=[], metavar="C",
                     help="with --table: a column to read (repeatable; default all)")  # fmt: skip
    add.add_argument("--watermark", metavar="C", help="incremental by this column")
    add.add_argument("--timeout", type=_positive_int, metavar="S", help="statement timeout (s)")
    add.add_argument("--row-cap", type=_positive_int, metavar="N")
    add.add_argument("--columns-cap", type=_positive_int, metavar="N")
    add.add_argument("--json", action="store_true", help="print the source as JSON")
    add.set_defaults(func=cmd_sources_add)

    for name, helptext, func in (
        ("test", "connect and check the read", cmd_sources_test),
        ("delete", "delete a source (its dataset stays)", cmd_sources_delete),
    ):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("id", type=_positive_int, metavar="ID")
        c.set_defaults(func=func)
    pv = sub.add_parser("preview", help="print the first rows")
    pv.add_argument("id", type=_positive_int, metavar="ID")
    pv.add_argument("--rows", type=_positive_int, default=20)
    pv.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pv.set_defaults(func=cmd_sources_preview)
    pl = sub.add_parser("pull", help="pull new rows into the next dataset version")
    pl.add_argument("id", type=_positive_int, metavar="ID")
    pl.add_argument("--no-wait", action="store_true", help="queue it on the server and return")
    pl.set_defaults(func=cmd_sources_pull)


def _client() -> Any:
    from pynomaly.cli_remote import _client as client

    return client()


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if args.ask_password:
        return getpass.getpass("database password: ")
    return None


def cmd_sources_list(args: argparse.Namespace) -> int:
    with _client() as client:
        sources = client.sources.list()
    if args.json:
        print(json.dumps([s.raw for s in sources], indent=2, default=str))
        return EXIT_OK
    rows = [
        [str(s.id), s.name or "", s.kind or "", f"{s.host or ''}{':' if s.host else ''}{s.port or ''}/{s.database or ''}",
         str(s.dataset_id or "-"), "failed" if s.last_error else (s.last_pull_at or "never")]
        for s in sources
    ]  # fmt: skip
    _table(["ID", "NAME", "KIND", "WHERE", "DATASET", "LAST PULL"], rows)
    return EXIT_OK


def cmd_sources_add(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {
        k: v
        for k, v in {
            "kind": args.kind, "host": args.host, "port": args.port, "database": args.database,
            "username": args.username, "query": args.query, "table": args.table,
            "columns": args.column or None, "watermark_column": args.watermark,
            "statement_timeout_seconds": args.timeout, "row_cap": args.row_cap,
            "columns_cap": args.columns_cap,
        }.items()
        if v is not None
    }  # fmt: skip
    if not args.url and not args.kind:
        raise UsageError("give --url, or --kind with --host/--database")
    password = _password(args)
    if password:
        fields["password"] = password
    with _client() as client:
        source = client.sources.create(args.name, url=args.url, **fields)
    if args.json:
        print(json.dumps(source.raw, indent=2, default=str))
    else:
        print(
            f"source {source.id} ({source.name}) created; test it with `pynomaly sources test {source.id}`"
        )
    return EXIT_OK


def cmd_sources_test(args: argparse.Namespace) -> int:
    with _client() as client:
        print(client.sources.test(args.id).message)
    return EXIT_OK


def cmd_sources_preview(args: argparse.Namespace) -> int:
    with _client() as client:
        shown = client.sources.preview(args.id, rows=args.rows)
    if args.json:
        print(json.dumps({"columns": shown.columns, "rows": shown.rows}, default=str))
        return EXIT_OK
    _table(
        shown.columns or [],
        [["null" if v is None else str(v)[:40] for v in r] for r in shown.rows or []],
    )
    return EXIT_OK


def cmd_sources_pull(args: argparse.Namespace) -> int:
    with _client() as client:
        version = client.sources.pull(args.id, wait=not args.no_wait)
        if args.no_wait:
            print(f"pull of source {args.id} queued")
        elif version is None:
            print("nothing new: no rows past the watermark")
        else:
            source = client.sources.get(args.id)
            print(f"dataset {source.dataset_id} version {version.number}: {version.rows} rows "
                  f"× {version.columns} columns (watermark {source.watermark_value or '-'})")  # fmt: skip
    return EXIT_OK


def cmd_sources_delete(args: argparse.Namespace) -> int:
    with _client() as client:
        client.sources.delete(args.id)
    print(f"source {args.id} deleted")
    return EXIT_OK
