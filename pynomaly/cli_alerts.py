"""``pynomaly alerts list|show|ack|snooze|resolve|deliveries``: alerts on the server you are
logged in to (see ``pynomaly login``)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from pynomaly.cli import _command, _positive_int
from pynomaly.cli_output import EXIT_OK, UsageError, _table

if TYPE_CHECKING:
    from pynomaly.cli import Commands
    from pynomaly.client.alerts import Alert


def add_alert_commands(commands: Commands) -> None:
    p = _command(
        commands,
        "alerts",
        "list and handle the alerts of your monitors on the server",
        "Alerts raised by monitor rules on the server you are logged in to.",
        """\
        examples:
          pynomaly alerts list                       open and acknowledged alerts
          pynomaly alerts list --state all --monitor 3
          pynomaly alerts ack 12
          pynomaly alerts snooze 12 --hours 4
          pynomaly alerts resolve 12
          pynomaly alerts deliveries 12              every attempt to every channel
        """,
    )
    sub = p.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND", required=True)
    ls = sub.add_parser("list", help="list alerts, newest first (default: not resolved)")
    ls.add_argument(
        "--state",
        choices=("unresolved", "open", "acknowledged", "resolved", "all"),
        default="unresolved",
    )
    ls.add_argument("--monitor", type=_positive_int, metavar="ID", help="only this monitor's")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=cmd_alerts_list)
    show = sub.add_parser("show", help="one alert")
    show.add_argument("alert", type=_positive_int, metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=cmd_alerts_show)
    for name, helptext in (
        ("ack", "acknowledge: further matches are counted, nobody is notified"),
        ("resolve", "resolve: the next match opens a new alert"),
    ):
        a = sub.add_parser(name, help=helptext)
        a.add_argument("alert", type=_positive_int, metavar="ID")
        a.set_defaults(func=cmd_alerts_change, action=name)
    sn = sub.add_parser("snooze", help="no notifications until a time")
    sn.add_argument("alert", type=_positive_int, metavar="ID")
    when = sn.add_mutually_exclusive_group(required=True)
    when.add_argument("--hours", type=float, metavar="H", help="for H hours")
    when.add_argument("--until", metavar="TIME", help="until an ISO time, e.g. 2026-12-02T08:00Z")
    sn.set_defaults(func=cmd_alerts_snooze)
    dl = sub.add_parser("deliveries", help="the delivery log of an alert")
    dl.add_argument("alert", type=_positive_int, metavar="ID")
    dl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    dl.set_defaults(func=cmd_alerts_deliveries)


def _when(text: str | None) -> str:
    return (text or "")[:19].replace("T", " ")


def _line(a: Alert) -> str:
    return (f"alert {a.id} {a.state}: {a.title} (seen {a.occurrences}×, last {_when(a.last_seen_at)})"
            + (f", snoozed until {_when(a.snoozed_until)}" if a.snoozed_until else ""))  # fmt: skip


def cmd_alerts_list(args: argparse.Namespace) -> int:
    from pynomaly.cli_remote import _client

    state = None if args.state == "all" else args.state
    with _client() as client:
        alerts = client.alerts.list(state=state, monitor_id=args.monitor)
    if args.json:
        print(json.dumps([a.raw for a in alerts], indent=2))
        return EXIT_OK
    rows = [(str(a.id), a.state or "", str(a.monitor_id), str(a.occurrences),
             _when(a.last_seen_at), (a.title or "")[:60]) for a in alerts]  # fmt: skip
    _table(("ID", "STATE", "MONITOR", "SEEN", "LAST SEEN", "TITLE"), rows)
    print(f"\n{len(alerts)} alerts")
    return EXIT_OK


def cmd_alerts_show(args: argparse.Namespace) -> int:
    from pynomaly.cli_remote import _client

    with _client() as client:
        alert = client.alerts.get(args.alert)
    if args.json:
        print(json.dumps(alert.raw, indent=2))
        return EXIT_OK
    print(_line(alert))
    for reason in alert.reasons or []:
        print(f"  - {reason}")
    print(f"  {alert.url}")
    return EXIT_OK


def cmd_alerts_change(args: argparse.Namespace) -> int:
    from pynomaly.cli_remote import _client

    with _client() as client:
        action = client.alerts.acknowledge if args.action == "ack" else client.alerts.resolve
        print(_line(action(args.alert)))
    return EXIT_OK


def cmd_alerts_snooze(args: argparse.Namespace) -> int:
    from datetime import datetime

    from pynomaly.cli_remote import _client

    until = None
    if args.until:
        try:
            until = datetime.fromisoformat(args.until.replace("Z", "+00:00")).isoformat()
        except ValueError:
            raise UsageError(f"--until {args.until!r} is not an ISO time") from None
    if args.hours is not None and args.hours <= 0:
        raise UsageError("--hours must be positive")
    with _client() as client:
        print(_line(client.alerts.snooze(args.alert, hours=args.hours, until=until)))
    return EXIT_OK


def cmd_alerts_deliveries(args: argparse.Namespace) -> int:
    from pynomaly.cli_remote import _client

    with _client() as client:
        log = client.alerts.deliveries(args.alert)
    if args.json:
        print(json.dumps(log, indent=2))
        return EXIT_OK
    rows = [(d["channel"], d["kind"], str(d["number"]), d["status"], str(d["response_code"] or ""),
             f"{d['latency_ms']:.0f} ms" if d["latency_ms"] is not None else "",
             _when(d["started_at"]), (d["error"] or "")[:50]) for d in log]  # fmt: skip
    _table(("CHANNEL", "KIND", "TRY", "STATUS", "CODE", "LATENCY", "WHEN", "ERROR"), rows)
    print(f"\n{len(log)} attempts")
    return EXIT_OK
