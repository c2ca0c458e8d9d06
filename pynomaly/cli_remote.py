"""Remote commands of ``pynomaly``: talk to a Pynomaly server through :mod:`pynomaly.client`.

``login`` stores the server and token (see :mod:`pynomaly.config`); every other remote
command uses them. Exit codes as for local commands: 2 when the request is refused as
bad input (4xx), 1 when the server or the job fails (5xx, unreachable, run failed).

``pynomaly score MODEL DATA`` serves both worlds: MODEL naming an existing file scores
locally (as always); MODEL being a number that is not a file scores on the server with
that trained model id (``pynomaly score 12 records.jsonl``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pynomaly.cli import _command, _positive_int
from pynomaly.cli_output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, _num, _table

if TYPE_CHECKING:
    from pynomaly.cli import Commands
    from pynomaly.client import Client, Run

RESULT_SUFFIXES = (".csv", ".parquet", ".pq")
RECORD_SUFFIXES = (".jsonl", ".ndjson", ".json")


def add_remote_commands(commands: Commands) -> None:
    from pynomaly.cli_monitors import add_monitor_commands

    for add in (_add_login, _add_logout, _add_whoami, _add_datasets, _add_runs):
        add(commands)
    add_monitor_commands(commands)
    from pynomaly.cli_alerts import add_alert_commands

    add_alert_commands(commands)
    from pynomaly.cli_sources import add_sources_command

    add_sources_command(commands)
    from pynomaly.cli_streams import add_streams_command

    add_streams_command(commands)
    from pynomaly.cli_verdicts import add_verdict_commands

    add_verdict_commands(commands)


# ----------------------------------------------------------------------------- parsers


def _add_login(commands: Commands) -> None:
    p = _command(
        commands,
        "login",
        "connect to a Pynomaly server (remote commands use it)",
        "Check an API token against a server and remember both for the remote commands.",
        """\
        The token (pyn_...) comes from the server's API tokens page; without --token it is
        asked for without echo. It is stored in ~/.config/pynomaly/config.json (or
        $XDG_CONFIG_HOME/pynomaly, or the file $PYNOMALY_CONFIG names), readable by you only.

        example:
          pynomaly login https://pynomaly.example.com
        """,
    )
    p.add_argument("url", metavar="URL", help="server address, e.g. https://pynomaly.example.com")
    p.add_argument("--token", help="API token (default: prompt for it)")
    p.set_defaults(func=cmd_login)


def _add_logout(commands: Commands) -> None:
    p = _command(commands, "logout", "forget the stored server and token",
                 "Delete the stored login (the token stays valid on the server: revoke it there).")  # fmt: skip
    p.set_defaults(func=cmd_logout)


def _add_whoami(commands: Commands) -> None:
    p = _command(commands, "whoami", "show the server, user and workspace of the login",
                 "Show who the stored token acts as, and in which workspace.")  # fmt: skip
    p.set_defaults(func=cmd_whoami)


def _add_datasets(commands: Commands) -> None:
    p = _command(
        commands,
        "datasets",
        "upload and list datasets on the server",
        "Datasets on the server you are logged in to.",
        """\
        examples:
          pynomaly datasets upload payments.parquet --name payments --wait
          pynomaly datasets list
        """,
    )
    sub = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND", required=True)
    up = sub.add_parser("upload", help="upload a data file (streamed, with progress)")
    up.add_argument("file", metavar="FILE", help="CSV, Parquet, JSON Lines, Excel, ... file")
    up.add_argument("--name", help="dataset name (default: the file name without suffix)")
    up.add_argument(
        "--edges",
        metavar="EDGES",
        help="a graph: FILE holds the nodes (id + features), EDGES the edges (source, target); "
        "both are sent as one zip (a .zip FILE holding nodes.csv and edges.csv works too)",
    )
    up.add_argument("--wait", action="store_true", help="wait until the server has ingested it")
    up.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    up.set_defaults(func=cmd_datasets_upload)
    ls = sub.add_parser("list", help="list datasets, newest first")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=cmd_datasets_list)


def _add_runs(commands: Commands) -> None:
    p = _command(
        commands,
        "runs",
        "start, watch and fetch detection runs on the server",
        "Detection runs on the server you are logged in to.",
        """\
        examples:
          pynomaly runs start --dataset 4 --detector-config 2 --watch
          pynomaly runs start --dataset 4 -d auto --train-labels known --watch
          pynomaly runs start --dataset 5 --detector-config 3 --from-model 12 --watch
          pynomaly runs start --dataset 6 --score-with 12 --watch   score, no fit
          pynomaly runs watch 17
          pynomaly runs results 17 -o scores.parquet
          pynomaly runs results 17 --only-anomalies -o anomalies.csv
          pynomaly runs explain 17            why it flagged its top rows
        """,
    )
    sub = p.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", required=True)
    start = sub.add_parser("start", help="start a run (a worker executes it)")
    which = start.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--dataset", type=_positive_int, metavar="ID", help="latest version of dataset ID"
    )
    which.add_argument(
        "--dataset-version", type=_positive_int, metavar="ID", help="this exact version"
    )
    how = start.add_mutually_exclusive_group(required=True)
    how.add_argument("--detector-config", type=_positive_int, metavar="ID")
    how.add_argument(
        "-d", "--detector", choices=("auto",), help="auto: the server chooses the detectors"
    )
    how.add_argument(
        "--score-with",
        type=_positive_int,
        metavar="MODEL_ID",
        help="score with this trained model instead of fitting (a time-series model reads "
        "the series it was trained on; the dataset needs the columns the model reads)",
    )
    start.add_argument("--label-column", metavar="C", help="ground-truth column (1 = anomaly)")
    start.add_argument(
        "--train-labels", metavar="C", help="partial training labels (1/0/empty) for auto"
    )
    start.add_argument("--max-fit-rows", type=_positive_int, metavar="N", help="fit on a sample")
    start.add_argument("--accept-cost", action="store_true", help="start even if estimated heavy")
    start.add_argument(
        "--from-model",
        type=_positive_int,
        metavar="MODEL_ID",
        help="fine-tune a deep detector (AutoEncoder, VAE) from this trained model on the "
        "server (same detector and columns; `pynomaly detect --from-model` takes a file)",
    )
    start.add_argument("--watch", action="store_true", help="follow progress until it ends")
    start.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    start.set_defaults(func=cmd_runs_start)
    watch = sub.add_parser("watch", help="follow a run's progress until it ends")
    watch.add_argument("run", type=_positive_int, metavar="ID")
    watch.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    watch.set_defaults(func=cmd_runs_watch)
    ls = sub.add_parser("list", help="list runs, newest first")
    ls.add_argument("--status", choices=("queued", "running", "succeeded", "failed", "cancelled"))
    ls.add_argument("--dataset", type=_positive_int, metavar="ID")
    ls.set_defaults(func=cmd_runs_list)
    res = sub.add_parser("results", help="fetch a finished run's scored rows")
    res.add_argument("run", type=_positive_int, metavar="ID")
    res.add_argument(
        "-o", "--output", metavar="FILE", help="write .csv or .parquet (default: CSV to stdout)"
    )
    res.add_argument("--only-anomalies", action="store_true", help="only rows labelled anomalous")
    res.add_argument(
        "--with-data", action="store_true", help="add every original column of the row"
    )
    res.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    res.set_defaults(func=cmd_runs_results)
    exp = sub.add_parser("explain", help="why a finished run flagged its rows (attributions)")
    exp.add_argument("run", type=_positive_int, metavar="ID")
    exp.add_argument("--rows", type=_positive_int, default=10, metavar="N", help="rows to show")
    exp.add_argument("--json", action="store_true", help="print the server's JSON")
    exp.set_defaults(func=cmd_runs_explain)


SCORE_HELP = """\
MODEL decides where scoring happens:
  an existing file        scored here, with the saved model (pynomaly train)
  a number, not a file    scored on the server you are logged in to, with the
                          trained model of that id; DATA is JSON Lines (one record
                          per line), a JSON array, or - for JSON Lines on stdin;
                          -o writes one JSON line per record (default: stdout)

examples:
  pynomaly score model.skops today.csv -o today-scores.parquet
  pynomaly score 12 records.jsonl -o scores.jsonl
"""


# ------------------------------------------------------------------------------ helpers


def _client() -> Client:
    from pynomaly.client import Client
    from pynomaly.config import config_path, is_private, load_login

    try:
        login = load_login()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if login is None:
        raise UsageError("not logged in: run `pynomaly login URL` first")
    if not is_private():
        print(f"warning: {config_path()} is readable by other users; chmod 600 it",
              file=sys.stderr)  # fmt: skip
    return Client(login["url"], login["token"])


def _progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def remote_exit_code(exc: BaseException) -> int | None:
    """Exit code and message for SDK errors; None for anything else."""
    # Only when the SDK was used: a local command never imports it.
    errors = sys.modules.get("pynomaly.client.errors")
    if errors is None:
        return None
    if isinstance(exc, errors.ApiError):
        print(f"error: {exc.detail}", file=sys.stderr)
        for item in exc.errors[:10]:
            loc = ".".join(str(x) for x in item.get("loc", []) if x not in ("body", "query"))
            if item.get("msg") and item.get("msg") != exc.detail:
                print(f"  {loc}: {item['msg']}" if loc else f"  {item['msg']}", file=sys.stderr)
        if isinstance(exc, errors.RateLimited) and exc.retry_after is not None:
            print(f"  try again in {exc.retry_after:g} s", file=sys.stderr)
        refused = 400 <= exc.status < 500 and exc.status != 429
        return EXIT_USAGE if refused else EXIT_FAILED
    if isinstance(exc, errors.JobFailed):
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return None


def _run_line(run: Run) -> str:
    summary = run.summary or {}
    parts = [f"run {run.id} {run.status}"]
    if summary.get("rows") is not None:
        parts.append(f"rows {summary['rows']:,}")
    if summary.get("anomalies") is not None:
        rate = summary.get("anomaly_rate")
        parts.append(
            f"anomalies {summary['anomalies']:,}" + (f" ({rate:.2%})" if rate is not None else "")
        )
    if run.threshold is not None:
        parts.append(f"threshold {run.threshold:.4g}")
    if run.metrics and run.metrics.get("roc_auc") is not None:
        parts.append(f"ROC-AUC {run.metrics['roc_auc']:.4g}")
    if run.trained_model_id:
        parts.append(f"model {run.trained_model_id}")
    return "   ".join(parts)


# ----------------------------------------------------------------------------- commands


def cmd_login(args: argparse.Namespace) -> int:
    import getpass

    from pynomaly.client import Client
    from pynomaly.config import save_login

    url = args.url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"URL must start with http:// or https://, not {args.url!r}")
    token = args.token or getpass.getpass("API token: ")
    token = token.strip()
    if not token:
        raise UsageError("no token given")
    with Client(url, token) as client:
        me = client.me()
    path = save_login(url, token)
    tenant = (me.tenant or {}).get("slug") or (me.tenant or {}).get("name")
    print(f"logged in to {url} as {me.email} (workspace {tenant}, {me.role}, {me.scope} scope)")
    print(f"login stored in {path}")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace) -> int:
    from pynomaly.config import config_path, delete_login

    if delete_login():
        print(f"logged out ({config_path()} removed)")
    else:
        print("not logged in")
    return EXIT_OK


def cmd_whoami(args: argparse.Namespace) -> int:
    with _client() as client:
        me = client.me()
        tenant = me.tenant or {}
        print(f"{me.email} in {tenant.get('name')} ({tenant.get('slug')}) as {me.role}, "
              f"{me.scope} scope, on {client.url}")  # fmt: skip
    return EXIT_OK


@contextlib.contextmanager
def _graph_archive(nodes: Path, edges: str | None) -> Iterator[Path]:
    """The file to send: ``nodes`` itself, or nodes + edges packed as one graph zip."""
    if not edges:
        yield nodes
        return
    from pynomaly.graph_data import pack_upload

    with tempfile.TemporaryDirectory(prefix="pynomaly-graph-") as tmp:
        target = Path(tmp) / f"{nodes.stem}.zip"
        pack_upload((nodes.name, nodes), (Path(edges).name, Path(edges)), target)
        yield target


def cmd_datasets_upload(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{args.file}: no such file")
    edges = getattr(args, "edges", None)
    if edges and not Path(edges).is_file():
        raise UsageError(f"{edges}: no such file")
    with _client() as client, _graph_archive(path, edges) as upload_path:
        name = args.name or path.stem
        dataset = client.datasets.upload(upload_path, name=name, progress=_progress(args))
        print(f"dataset {dataset.id} ({dataset.name}) uploaded; {dataset.status}")
        if args.wait and dataset.status == "ingesting":
            dataset.wait()
            v = dataset.latest_version
            shape = f": {v.rows:,} rows × {v.columns} columns" if v and v.rows is not None else ""
            print(f"dataset {dataset.id} {dataset.status}{shape}")
    return EXIT_OK


def cmd_datasets_list(args: argparse.Namespace) -> int:
    with _client() as client:
        datasets = client.datasets.list()
    if args.json:
        print(json.dumps([d.raw for d in datasets], indent=2))
        return EXIT_OK
    rows = []
    for d in datasets:
        v = d.latest_version
        rows.append((str(d.id), d.name or "", d.status or "",
                     f"{v.rows:,}" if v and v.rows is not None else "",
                     str(v.columns) if v and v.columns is not None else "",
                     (d.created_at or "")[:19].replace("T", " ")))  # fmt: skip
    _table(("ID", "NAME", "STATUS", "ROWS", "COLUMNS", "CREATED"), rows)
    print(f"\n{len(datasets)} datasets")
    return EXIT_OK


def cmd_runs_start(args: argparse.Namespace) -> int:
    with _client() as client:
        run = client.runs.start(
            dataset_id=args.dataset, dataset_version_id=args.dataset_version,
            detector_config_id=args.detector_config, label_column=args.label_column,
            max_fit_rows=args.max_fit_rows, accept_cost=args.accept_cost,
            detector=args.detector, train_labels=args.train_labels,
            base_model_id=args.from_model, scoring_model_id=args.score_with,
        )  # fmt: skip
        print(f"run {run.id} {run.status}")
        if args.watch:
            return _watch(run, args)
    return EXIT_OK


def cmd_runs_watch(args: argparse.Namespace) -> int:
    with _client() as client:
        return _watch(client.runs.get(args.run), args)


def _watch(run: Run, args: argparse.Namespace) -> int:
    from pynomaly.client import RunFailed

    try:
        run.wait(progress=_progress(args))
    except RunFailed:
        print(_run_line(run))
        raise
    print(_run_line(run))
    _explain_remote(run)
    return EXIT_OK


def _explain_remote(run: Run) -> None:
    """What auto chose and the threshold check, as ``pynomaly detect`` says them."""
    if run.selection and run.selection.get("headline"):
        print(run.selection["headline"])
    check = (run.summary or {}).get("threshold_check") or {}
    if check.get("warning"):
        print(f"warning: {check['warning']}", file=sys.stderr)
    suggested = check.get("suggested")
    if suggested:
        print(
            f"on the training labels, a threshold of {suggested['threshold']:.6g} maximises "
            f"F1 ({suggested['f1']:.2f}) and flags {suggested['flagged_text']} of the rows"
        )


def cmd_runs_list(args: argparse.Namespace) -> int:
    with _client() as client:
        runs = client.runs.list(status=args.status, dataset_id=args.dataset)
    rows = [(str(r.id), r.status or "", r.stage or "", f"{r.percent or 0:.0f}%", str(r.dataset_id),
             str(r.detector_config_id), (r.created_at or "")[:19].replace("T", " "))
            for r in runs]  # fmt: skip
    _table(("ID", "STATUS", "STAGE", "DONE", "DATASET", "CONFIG", "CREATED"), rows)
    print(f"\n{len(runs)} runs")
    return EXIT_OK


def cmd_runs_results(args: argparse.Namespace) -> int:
    """The run's download (the same columns as the results page's): to a file, or CSV on stdout."""
    import shutil
    import tempfile

    from pynomaly.cli_output import _check_output_path

    _check_output_path(args.output, RESULT_SUFFIXES)
    options = {"data": args.with_data, "only_anomalies": args.only_anomalies}
    with _client() as client:
        if args.output:
            client.runs.download(args.run, args.output, progress=_progress(args), **options)
            print(f"results of run {args.run} written to {args.output}", file=sys.stderr)
            return EXIT_OK
        with tempfile.TemporaryDirectory() as tmp:
            path = client.runs.download(
                args.run, Path(tmp) / "results.csv", progress=False, **options
            )
            with open(path, encoding="utf-8", newline="") as fh:
                shutil.copyfileobj(fh, sys.stdout)
    return EXIT_OK


def cmd_runs_explain(args: argparse.Namespace) -> int:
    with _client() as client:
        data = client.runs.explanations(args.run, limit=args.rows, top=3)
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    if not data.get("items"):
        print(data.get("error") or f"run {args.run} has no explanations")
        return EXIT_OK
    print(f"run {args.run}: {data['rows']} flagged rows explained by {data['method_label']}")
    importance = data.get("importance") or []
    if importance:
        print(
            "importance: " + ", ".join(f"{i['feature']} {i['value']:.3g}" for i in importance[:8])
        )
    for h in data.get("segments") or []:
        print(
            f"segment: {h['column']} = {h['value']}: {h['anomalies']} anomalies of {h['rows']} rows, lift {h['lift']:.1f}"
        )
    for item in data["items"]:
        reasons = ", ".join(
            f"{a['feature']} {a['value']:+.3g}" for a in item["attributions"] if a["value"] > 0
        )
        print(f"  #{item['row_id']} score {_num(item['score'])}: {reasons or '—'}")
    return EXIT_OK


# -------------------------------------------------------------------------- remote score


def is_remote_model(model: str) -> bool:
    """A number that names no local file means a trained model on the server."""
    return model.isdigit() and not Path(model).exists()


def cmd_remote_score(args: argparse.Namespace) -> int:
    if args.sha256:
        raise UsageError("--sha256 checks a local model file; MODEL here is a server model id")
    if args.output and Path(args.output).suffix.lower() not in RECORD_SUFFIXES:
        raise UsageError(f"output {args.output!r} must end in .jsonl (one JSON line per record)")
    records = _read_records(args.data)
    if not records:
        raise UsageError(f"{args.data}: no records")
    with _client() as client:
        result = client.models.score(
            int(args.model), records, batch_size=1000, progress=_progress(args)
        )
    # models.score always fills the three lists; the dataclass allows None for from_json
    scores, labels = result.scores or [], result.labels or []
    lines = (
        json.dumps({"row": i, "score": s, "label": lab, "severity": sev})
        for i, (s, lab, sev) in enumerate(zip(scores, labels, result.severity or [], strict=True))
    )  # fmt: skip
    if args.output:
        target = Path(args.output)
        tmp = target.with_name(f".{target.name}.part")
        with open(tmp, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line + "\n")
        tmp.replace(target)
    else:
        for line in lines:
            print(line)
    flagged = sum(labels)
    print(f"scored {len(scores):,} records with model {args.model}: {flagged:,} anomalies "
          f"(threshold {result.threshold:.4g})" + (f"; written to {args.output}" if args.output else ""),
          file=sys.stderr)  # fmt: skip
    return EXIT_OK


def _read_records(source: str) -> list[dict[str, Any]]:
    from pynomaly.client.endpoints import iter_jsonl

    try:
        if source == "-":
            return list(iter_jsonl(sys.stdin))
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source}: no such file")
        with open(path, encoding="utf-8") as fh:
            if path.suffix.lower() == ".json":
                data = json.load(fh)
                if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                    raise UsageError(f"{source}: expected a JSON array of objects")
                return data
            return list(iter_jsonl(fh))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{source}: {exc}") from None


def score_epilog() -> str:
    return textwrap.dedent(SCORE_HELP)


__all__ = ["add_remote_commands", "cmd_remote_score", "is_remote_model", "remote_exit_code",
           "score_epilog"]  # fmt: skip
