"""``pynomaly verdicts …`` and ``pynomaly retrain``: analysts' verdicts on a server's runs.

Like every remote command they use the stored login (``pynomaly login``) and the SDK.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pynomaly.cli import _command, _positive_int
from pynomaly.cli_output import EXIT_OK, UsageError, _table

if TYPE_CHECKING:
    from pynomaly.cli import Commands
    from pynomaly.client import Client

KINDS = ("anomaly", "normal", "unsure")


def add_verdict_commands(commands: Commands) -> None:
    _add_verdicts(commands)
    _add_retrain(commands)


def _add_verdicts(commands: Commands) -> None:
    p = _command(
        commands,
        "verdicts",
        "list, add, delete and export analysts' verdicts on a run's rows",
        "Verdicts (anomaly / normal / unsure) on the rows of a run's dataset version. They are "
        "the workspace's labels: metrics, the learned threshold and `pynomaly retrain` use them.",
        """\
        examples:
          pynomaly verdicts add 17 42 anomaly --note "card testing"
          pynomaly verdicts list 17 --verdict anomaly
          pynomaly verdicts delete 17 42
          pynomaly verdicts export 17 -o verdicts.csv
          pynomaly verdicts summary 17
          pynomaly verdicts threshold 17       save the threshold with the best F1 on them
        """,
    )
    sub = p.add_subparsers(dest="verdicts_command", metavar="SUBCOMMAND", required=True)
    ls = sub.add_parser("list", help="the verdicts on the run's rows, newest first")
    ls.add_argument("run", type=_positive_int, metavar="RUN")
    ls.add_argument("--verdict", choices=KINDS, help="only this verdict")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=cmd_verdicts_list)
    add = sub.add_parser("add", help="mark a row (replaces its verdict)")
    add.add_argument("run", type=_positive_int, metavar="RUN")
    add.add_argument("row", type=int, metavar="ROW", help="row id, as in the run's results")
    add.add_argument("verdict", choices=KINDS)
    add.add_argument("--note", default="", help="why (optional)")
    add.set_defaults(func=cmd_verdicts_add)
    rm = sub.add_parser("delete", help="clear a row's verdict")
    rm.add_argument("run", type=_positive_int, metavar="RUN")
    rm.add_argument("row", type=int, metavar="ROW")
    rm.set_defaults(func=cmd_verdicts_delete)
    ex = sub.add_parser("export", help="every verdict with its label and held-out flag")
    ex.add_argument("run", type=_positive_int, metavar="RUN")
    ex.add_argument(
        "-o", "--output", metavar="FILE", help="write .csv or .json (default: JSON to stdout)"
    )
    ex.set_defaults(func=cmd_verdicts_export)
    sm = sub.add_parser(
        "summary", help="the run's metrics against the verdicts (and vs its parent)"
    )
    sm.add_argument("run", type=_positive_int, metavar="RUN")
    sm.add_argument("--json", action="store_true", help="print JSON")
    sm.set_defaults(func=cmd_verdicts_summary)
    th = sub.add_parser("threshold", help="save the threshold that maximises F1 on the verdicts")
    th.add_argument("run", type=_positive_int, metavar="RUN")
    th.set_defaults(func=cmd_verdicts_threshold)


def _add_retrain(commands: Commands) -> None:
    p = _command(
        commands,
        "retrain",
        "retrain a run with the analysts' verdicts",
        "Start a run like RUN that trains with the verdicts on its dataset version; about 30 % of "
        "them (fixed by a hash of the row id) are held out to compare the new run with RUN.",
        """\
        example:
          pynomaly retrain 17 --watch && pynomaly verdicts summary <new run>
        """,
    )
    p.add_argument("run", type=_positive_int, metavar="RUN")
    p.add_argument("--watch", action="store_true", help="follow the new run until it ends")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_retrain)


def _client() -> Client:
    from pynomaly.cli_remote import _client as client

    return client()


def cmd_verdicts_list(args: argparse.Namespace) -> int:
    with _client() as client:
        verdicts = client.verdicts.list(run_id=args.run, verdict=args.verdict)
    if args.json:
        print(json.dumps([v.raw for v in verdicts], indent=2))
        return EXIT_OK
    rows = [(str(v.row), v.verdict or "", v.created_by or "", (v.made_at or "")[:19].replace("T", " "),
             (v.note or "").replace("\n", " ")[:60]) for v in verdicts]  # fmt: skip
    _table(("ROW", "VERDICT", "BY", "MADE", "NOTE"), rows)
    print(f"\n{len(verdicts)} verdicts")
    return EXIT_OK


def cmd_verdicts_add(args: argparse.Namespace) -> int:
    if args.row < 0:
        raise UsageError("ROW must be 0 or more")
    with _client() as client:
        v = client.verdicts.add(args.row, args.verdict, run_id=args.run, note=args.note)
    print(f"row {v.row}: {v.verdict}" + ("" if v.applied else " (unchanged: seen before)"))
    return EXIT_OK


def cmd_verdicts_delete(args: argparse.Namespace) -> int:
    with _client() as client:
        client.verdicts.delete(args.row, run_id=args.run)
    print(f"row {args.row}: verdict cleared")
    return EXIT_OK


def cmd_verdicts_export(args: argparse.Namespace) -> int:
    with _client() as client:
        if args.output:
            path = Path(args.output)
            if path.suffix.lower() not in (".csv", ".json"):
                raise UsageError(f"{args.output}: write .csv or .json")
            client.verdicts.export(args.run, path)
            print(f"verdicts written to {path}", file=sys.stderr)
        else:
            print(json.dumps(client.verdicts.export(args.run), indent=2))
    return EXIT_OK


def cmd_verdicts_summary(args: argparse.Namespace) -> int:
    with _client() as client:
        s = client.verdicts.summary(args.run)
    if args.json:
        print(json.dumps(s, indent=2))
        return EXIT_OK
    c, m = s["counts"], s["metrics"]
    print(f"run {s['run_id']}: {c['anomaly']} anomaly, {c['normal']} normal, {c['unsure']} unsure")
    if m.get("rows"):
        parts = [
            f"{k} {m[k]:.3f}"
            for k in ("roc_auc", "average_precision", "f1")
            if m.get(k) is not None
        ]
        print(f"against {m['rows']} verdicts: " + ("   ".join(parts) or m.get("note", "")))
    h = s.get("held_out_comparison")
    if h:
        if h.get("note") or h.get("error"):
            print(f"vs run {h.get('parent_run_id')}: {h.get('note') or h.get('error')}")
        else:
            print(f"vs run {h['parent_run_id']} on {h['rows']} held-out verdicts: "
                  f"ROC-AUC {h['child']['roc_auc']:.3f} vs {h['parent']['roc_auc']:.3f} "
                  f"({h['delta']['roc_auc']:+.3f}), AP {h['child']['average_precision']:.3f} vs "
                  f"{h['parent']['average_precision']:.3f} ({h['delta']['average_precision']:+.3f})")  # fmt: skip
    return EXIT_OK


def cmd_verdicts_threshold(args: argparse.Namespace) -> int:
    with _client() as client:
        t = client.verdicts.learn_threshold(args.run)
    print(f"run {args.run}: threshold {t['threshold']:.6g} from {t['verdicts']} verdicts "
          f"(F1 {t['f1']:.3f}, precision {t['precision']:.3f}, recall {t['recall']:.3f})")  # fmt: skip
    return EXIT_OK


def cmd_retrain(args: argparse.Namespace) -> int:
    from pynomaly.cli_remote import _watch

    with _client() as client:
        run = client.verdicts.retrain(args.run)
        print(f"run {run.id} {run.status} (retrains run {args.run} with feedback)")
        if args.watch:
            return _watch(run, args)
    return EXIT_OK
