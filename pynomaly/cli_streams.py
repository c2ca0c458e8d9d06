"""``pynomaly streams …``: streams on the server you are logged in to, their anomalies, HTTP push.

Secrets are never command-line arguments (other users can read those in ``ps``): a broker
password comes from ``--password-stdin`` or ``--ask-password``; a push token from the
``PYNOMALY_PUSH_TOKEN`` environment variable or ``--token-stdin``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pynomaly.cli import _command, _positive_int
from pynomaly.cli_output import EXIT_OK, UsageError, _table

if TYPE_CHECKING:
    from pynomaly.cli import Commands

KINDS = ("redis", "kafka", "mqtt", "nats", "http")


def add_streams_command(commands: Commands) -> None:
    p = _command(
        commands,
        "streams",
        "streams on the server: create, pause, push records, follow anomalies",
        "Records from Kafka, MQTT, NATS, Redis Streams or HTTP push, scored as they arrive.",
        """\
        examples:
          pynomaly streams create sensors --kind redis --config url=redis://broker:6379/0 \\
              --config key=sensors --columns temperature,pressure
          pynomaly streams create gateway --kind http --model 12
          PYNOMALY_PUSH_TOKEN=pys_… pynomaly streams push 4 readings.ndjson
          pynomaly streams tail 4
        """,
    )
    sub = p.add_subparsers(dest="streams_command", metavar="SUBCOMMAND", required=True)
    ls = sub.add_parser("list", help="list streams with their state")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=cmd_streams_list)

    add = sub.add_parser("create", help="create a stream (admins)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--kind", choices=KINDS, required=True)
    add.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                     help="a broker setting (repeatable): redis url/key/group, kafka "
                          "bootstrap_servers/topic/…, mqtt host/port/topic/qos/tls, nats "
                          "servers/stream/subject/durable")  # fmt: skip
    model = add.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", type=_positive_int, metavar="ID", help="a trained model")
    model.add_argument("--columns", metavar="A,B", help="an online learner on these columns")
    add.add_argument("--threshold", type=float)
    add.add_argument("--id-field", metavar="F", help="the record field holding the event id")
    add.add_argument("--time-field", metavar="F", help="the record field holding the event time")
    pw = add.add_mutually_exclusive_group()
    pw.add_argument("--password-stdin", action="store_true", help="read the broker password")
    pw.add_argument("--ask-password", action="store_true", help="prompt for it (no echo)")
    add.add_argument("--json", action="store_true", help="print the stream as JSON")
    add.set_defaults(func=cmd_streams_create)

    for name, helptext, func in (
        ("pause", "stop reading (records wait in the broker)", cmd_streams_pause),
        ("resume", "read again", cmd_streams_resume),
        ("delete", "delete a stream with its anomalies and history", cmd_streams_delete),
    ):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("id", type=_positive_int, metavar="ID")
        c.set_defaults(func=func)

    ps = sub.add_parser("push", help="push records (JSON array or NDJSON) to an HTTP push stream")
    ps.add_argument("id", type=_positive_int, metavar="ID")
    ps.add_argument(
        "file", metavar="FILE", help="a .json array or .ndjson/.jsonl file; - for stdin"
    )
    ps.add_argument("--token-stdin", action="store_true",
                    help="read the push token from stdin (else $PYNOMALY_PUSH_TOKEN)")  # fmt: skip
    ps.add_argument("--batch", type=_positive_int, default=5000, help="records per request")
    ps.set_defaults(func=cmd_streams_push)

    an = sub.add_parser("anomalies", help="the latest anomalies of a stream")
    an.add_argument("id", type=_positive_int, metavar="ID")
    an.add_argument("--limit", type=_positive_int, default=20)
    an.add_argument("--since", type=int, metavar="ANOMALY_ID", help="only those after this one")
    an.add_argument("--json", action="store_true", help="print JSON lines")
    an.set_defaults(func=cmd_streams_anomalies)

    tl = sub.add_parser("tail", help="follow new anomalies live (Ctrl-C stops)")
    tl.add_argument("id", type=_positive_int, metavar="ID")
    tl.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    tl.add_argument("--backlog", type=int, default=10, help="start with this many recent ones")
    tl.add_argument("--json", action="store_true", help="print JSON lines")
    tl.set_defaults(func=cmd_streams_tail)


def _client() -> Any:
    from pynomaly.cli_remote import _client as client

    return client()


def _config(pairs: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--config takes KEY=VALUE, not {pair!r}")
        text = value.strip()
        parsed: Any = text
        if text.lower() in ("true", "false"):
            parsed = text.lower() == "true"
        elif text.isdigit() and key.strip() in ("port", "qos"):
            parsed = int(text)
        config[key.strip()] = parsed
    return config


def cmd_streams_list(args: argparse.Namespace) -> int:
    with _client() as client:
        streams = client.streams.list()
    if args.json:
        print(json.dumps([s.raw for s in streams], indent=2, default=str))
        return EXIT_OK
    rows = []
    for s in streams:
        st = s.stats or {}
        lag = "-" if st.get("lag") is None else str(st["lag"])
        drift = ",".join(c for c, on in (st.get("drift") or {}).items() if on) or "-"
        rows.append([
            str(s.id), s.name or "", s.kind or "", st.get("status", s.status or ""),
            f"{st.get('records_per_second', 0):.1f}", lag, str(st.get("anomalies_total", 0)),
            drift, st.get("last_record_at") or "never",
        ])  # fmt: skip
    _table(["ID", "NAME", "KIND", "STATUS", "REC/S", "LAG", "ANOMALIES", "DRIFT", "LAST"], rows)
    return EXIT_OK


def cmd_streams_create(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {"config": _config(args.config)}
    if args.model:
        fields.update(learner="model", model_id=args.model)
    else:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        fields.update(learner="hst", columns=columns)
    for key in ("threshold", "id_field", "time_field"):
        if getattr(args, key) is not None:
            fields[key] = getattr(args, key)
    if args.password_stdin:
        fields["password"] = sys.stdin.readline().rstrip("\r\n")
    elif args.ask_password:
        fields["password"] = getpass.getpass("broker password: ")
    with _client() as client:
        stream = client.streams.create(args.name, args.kind, **fields)
    if args.json:
        print(json.dumps(stream.raw, indent=2, default=str))
        return EXIT_OK
    print(f"stream {stream.id} ({stream.name}) created: {stream.address}")
    if stream.push_token:
        print(f"push token (shown once): {stream.push_token}")
    return EXIT_OK


def cmd_streams_pause(args: argparse.Namespace) -> int:
    with _client() as client:
        client.streams.pause(args.id)
    print(f"stream {args.id} paused")
    return EXIT_OK


def cmd_streams_resume(args: argparse.Namespace) -> int:
    with _client() as client:
        client.streams.resume(args.id)
    print(f"stream {args.id} resumed")
    return EXIT_OK


def cmd_streams_delete(args: argparse.Namespace) -> int:
    with _client() as client:
        client.streams.delete(args.id)
    print(f"stream {args.id} deleted")
    return EXIT_OK


def _read_records(name: str, stdin_used: bool) -> list[dict[str, Any]]:
    """Records from a JSON array or NDJSON (told apart by the first character), checked here."""
    if name == "-":
        if stdin_used:
            raise UsageError("stdin holds the token; give the records as a file")
        text = sys.stdin.read()
    else:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {name}: {exc}") from None
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            records = json.loads(stripped)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name} is neither a JSON array nor NDJSON: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UsageError(f"{name}: every record must be a JSON object")
    if not records:
        raise UsageError(f"{name} holds no record")
    return records


def cmd_streams_push(args: argparse.Namespace) -> int:
    token = (
        sys.stdin.readline().strip()
        if args.token_stdin
        else os.environ.get("PYNOMALY_PUSH_TOKEN", "")
    )
    if not token:
        raise UsageError("give the push token in $PYNOMALY_PUSH_TOKEN or with --token-stdin")
    records = _read_records(args.file, args.token_stdin)
    with _client() as client:
        accepted = client.streams.push(args.id, records, token=token, batch=args.batch)
    print(f"{accepted} records accepted by stream {args.id}")
    return EXIT_OK


def _print(anomaly: Any, as_json: bool) -> None:
    print(json.dumps(anomaly.raw, default=str) if as_json else anomaly.line(), flush=True)


def cmd_streams_anomalies(args: argparse.Namespace) -> int:
    with _client() as client:
        page = client.streams.anomalies(args.id, since=args.since, limit=args.limit)
    for anomaly in page.items or []:
        _print(anomaly, args.json)
    if not page.items and not args.json:
        print("no anomaly", file=sys.stderr)
    return EXIT_OK


def cmd_streams_tail(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise UsageError("--interval must be above 0")
    with _client() as client:
        client.streams.get(args.id)  # a wrong id fails at once, not after the first poll
        try:
            for anomaly in client.streams.tail(
                args.id, interval=args.interval, backlog=max(args.backlog, 0)
            ):
                _print(anomaly, args.json)
        except KeyboardInterrupt:  # the normal way to stop following
            return EXIT_OK
    return EXIT_OK
