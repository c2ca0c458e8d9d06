"""``pynomaly monitors …``: scheduled monitors on the server you are logged in to."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from pynomaly.cli import _command, _positive_int
from pynomaly.cli_output import EXIT_FAILED, EXIT_OK, _table

if TYPE_CHECKING:
    from pynomaly.cli import Commands
    from pynomaly.client import Client
    from pynomaly.client.monitors import Monitor, MonitorExecution


def add_monitor_commands(commands: Commands) -> None:
    p = _command(
        commands,
        "monitors",
        "watch datasets and database sources on a schedule",
        "Monitors score each new batch of rows with their trained model and check it for drift.",
        """\
        examples:
          pynomaly monitors create orders --dataset 4 --detector-config 2 --every 3600
          pynomaly monitors create nightly --source 1 --detector-config 2 --cron "0 2 * * *" \\
              --retrain on_drift
          pynomaly monitors run 3 --wait
          pynomaly monitors executions 3
          pynomaly monitors pause 3
        """,
    )
    sub = p.add_subparsers(dest="monitors_command", metavar="SUBCOMMAND", required=True)
    ls = sub.add_parser("list", help="list monitors with their last execution")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_monitors_list)

    create = sub.add_parser("create", help="create a monitor")
    create.add_argument("name")
    which = create.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset", type=_positive_int, metavar="ID", help="watch this dataset")
    which.add_argument("--source", type=_positive_int, metavar="ID", help="read this source")
    create.add_argument("--detector-config", type=_positive_int, required=True, metavar="ID")
    when = create.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", type=_positive_int, metavar="SECONDS", help="interval")
    when.add_argument("--cron", metavar="EXPR", help="cron expression (UTC)")
    when.add_argument("--on-new-version", action="store_true", help="on every new dataset version")
    create.add_argument("--threshold", type=float, help="score threshold (default: the model's)")
    create.add_argument("--retrain", choices=("manual", "every_n", "on_drift"), default="manual")
    create.add_argument("--retrain-every", type=_positive_int, metavar="N")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(func=cmd_monitors_create)

    for name, help_text, func in (
        ("show", "show a monitor, its schedule and last execution", cmd_monitors_show),
        ("pause", "pause a monitor's schedule", cmd_monitors_pause),
        ("resume", "resume a paused monitor", cmd_monitors_resume),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("monitor", type=_positive_int, metavar="ID")
        cmd.add_argument("--json", action="store_true", help="print JSON")
        cmd.set_defaults(func=func)

    run = sub.add_parser("run", help="run an execution now")
    run.add_argument("monitor", type=_positive_int, metavar="ID")
    run.add_argument("--wait", action="store_true", help="wait until the execution ends")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="give up waiting after this")
    run.add_argument("--json", action="store_true", help="print JSON")
    run.set_defaults(func=cmd_monitors_run)

    ex = sub.add_parser("executions", help="list a monitor's executions, newest first")
    ex.add_argument("monitor", type=_positive_int, metavar="ID")
    ex.add_argument("--limit", type=_positive_int, default=20, metavar="N")
    ex.add_argument("--json", action="store_true", help="print JSON")
    ex.set_defaults(func=cmd_monitors_executions)


# ----------------------------------------------------------------------------- output
def _schedule(m: Monitor) -> str:
    if m.schedule == "interval":
        return f"every {m.interval_seconds} s"
    if m.schedule == "cron":
        return f"cron {m.cron}"
    return "on new version"


def _execution_line(e: MonitorExecution) -> str:
    parts = [f"execution #{e.number} {e.status}"]
    if e.status == "succeeded":
        share = f" ({e.flagged_share:.2%})" if e.flagged_share is not None else ""
        parts.append(f"rows {e.rows:,}   anomalies {e.anomalies:,}{share}")
        if e.max_severity is not None:
            parts.append(f"max severity {e.max_severity:.1f}")
        parts.append("drift: " + (", ".join(e.drifted_features) or "none"))
        parts.append("refit" if e.retrained else "scored")
    if e.run_id:
        parts.append(f"run {e.run_id}")
    if e.error:
        parts.append(f"error: {e.error}")
    return "   ".join(parts)


def _print_json(value: Any) -> int:
    print(json.dumps(value, indent=2, default=str))
    return EXIT_OK


def _show(m: Monitor, as_json: bool) -> int:
    if as_json:
        return _print_json(m.raw)
    watched = f"source {m.source_id}" if m.source_id else f"dataset {m.dataset_id}"
    print(f"monitor {m.id} {m.name!r} {m.status}")
    print(f"  watches {watched} with detector configuration {m.detector_config_id}")
    print(f"  schedule {_schedule(m)}; next {m.next_execution_at or '—'}")
    retrain = (m.retrain or "") + (f" ({m.retrain_every})" if m.retrain == "every_n" else "")
    print(f"  refit {retrain}; model {m.model_id or 'none yet'}")
    if m.last_execution:
        from pynomaly.client.monitors import MonitorExecution

        print("  last " + _execution_line(MonitorExecution.from_json(m.last_execution)))
    return EXIT_OK


# ----------------------------------------------------------------------------- commands
def _client() -> Client:
    from pynomaly.cli_remote import _client as client

    return client()


def cmd_monitors_list(args: argparse.Namespace) -> int:
    with _client() as client:
        monitors = client.monitors.list()
    if args.json:
        return _print_json([m.raw for m in monitors])
    rows = []
    for m in monitors:
        last = m.last_execution or {}
        rows.append((str(m.id), m.name or "", m.status or "", _schedule(m),
                     f"#{last['number']} {last['status']}" if last else "",
                     f"{last.get('anomalies', 0):,}" if last.get("status") == "succeeded" else "",
                     "yes" if last.get("drift_detected") else ""))  # fmt: skip
    _table(("ID", "NAME", "STATUS", "SCHEDULE", "LAST", "ANOMALIES", "DRIFT"), rows)
    print(f"\n{len(monitors)} monitors")
    return EXIT_OK


def cmd_monitors_create(args: argparse.Namespace) -> int:
    schedule = "interval" if args.every else "cron" if args.cron else "on_new_version"
    with _client() as client:
        monitor = client.monitors.create(
            args.name, detector_config_id=args.detector_config, dataset_id=args.dataset,
            source_id=args.source, schedule=schedule, interval_seconds=args.every,
            cron=args.cron or "", threshold=args.threshold, retrain=args.retrain,
            retrain_every=args.retrain_every,
        )  # fmt: skip
    return _show(monitor, args.json)


def cmd_monitors_show(args: argparse.Namespace) -> int:
    with _client() as client:
        return _show(client.monitors.get(args.monitor), args.json)


def cmd_monitors_pause(args: argparse.Namespace) -> int:
    with _client() as client:
        return _show(client.monitors.pause(args.monitor), args.json)


def cmd_monitors_resume(args: argparse.Namespace) -> int:
    with _client() as client:
        return _show(client.monitors.resume(args.monitor), args.json)


def cmd_monitors_run(args: argparse.Namespace) -> int:
    with _client() as client:
        execution = client.monitors.run(args.monitor, wait=args.wait, timeout=args.timeout)
    if args.json:
        _print_json(execution.raw)
    else:
        print(_execution_line(execution))
    return EXIT_FAILED if execution.status == "failed" else EXIT_OK


def cmd_monitors_executions(args: argparse.Namespace) -> int:
    with _client() as client:
        executions = client.monitors.executions(args.monitor, limit=args.limit)[: args.limit]
    if args.json:
        return _print_json([e.raw for e in executions])
    rows = [(str(e.number), e.status or "", e.trigger or "", f"{e.rows or 0:,}",
             f"{e.anomalies or 0:,}", f"{e.max_severity:.1f}" if e.max_severity is not None else "",
             ", ".join(e.drifted_features), "refit" if e.retrained else "",
             str(e.run_id or ""), (e.created_at or "")[:19].replace("T", " "))
            for e in executions]  # fmt: skip
    _table(("#", "STATUS", "TRIGGER", "ROWS", "ANOMALIES", "MAX SEV", "DRIFT", "MODEL", "RUN",
            "CREATED"), rows)  # fmt: skip
    return EXIT_OK
