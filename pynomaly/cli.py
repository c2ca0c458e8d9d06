"""The ``pynomaly`` command: list detectors, find anomalies in a file, train and score.

Engine modules are imported inside the commands, so ``pynomaly --help`` answers at once
instead of waiting for scikit-learn and PyOD to load.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pynomaly import __version__
from pynomaly.cli_local import cmd_detect, cmd_detectors, cmd_detectors_show, cmd_score, cmd_train
from pynomaly.cli_output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from pynomaly.errors import Cancelled, DetectionFailed, EngineError

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

_EPILOG = """\
examples:
  pynomaly detectors                          list every detector
  pynomaly detectors show iforest             what a detector does, its parameters
  pynomaly detect sensors.csv                 find anomalies with the default detector
  pynomaly detect sensors.csv -d iforest -d hbos --contamination 0.02 -o scores.parquet
  pynomaly detect data.csv --label-column is_anomaly      also report ROC-AUC, F1, ...
  pynomaly train normal.parquet -d ecod -o model.skops
  pynomaly score model.skops today.csv -o today-scores.csv

remote (a Pynomaly server; see `pynomaly login --help`):
  pynomaly login https://pynomaly.example.com
  pynomaly datasets upload payments.parquet --wait
  pynomaly runs start --dataset 4 --detector-config 2 --watch
  pynomaly runs results 17 -o scores.parquet
  pynomaly score 12 records.jsonl -o scores.jsonl    MODEL a number, not a file: on the server
  pynomaly compare 17 18                      which run is better, with intervals and p-values
  pynomaly bakeoff 4 -d iforest -d knn --label-column y --wait     N detectors, one leaderboard

Data files: CSV, TSV, JSON, JSON Lines, Parquet, Feather/Arrow, Excel .xlsx, HDF5.
Exit codes: 0 ok, 1 detection failed, 2 bad input or usage, 130 interrupted.
"""


# ------------------------------------------------------------------------ the parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pynomaly",
        description="Find anomalies in tabular data with PyOD detectors.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pynomaly {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback for unexpected errors"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    # Each command is one small function; the remote ones (login, datasets, runs) live in
    # cli_remote, so the local commands never need an HTTP client.
    for add in (_add_detectors, _add_detect, _add_train, _add_score):
        add(commands)
    from pynomaly.cli_remote import add_remote_commands  # imports no HTTP library until one runs

    add_remote_commands(commands)
    from pynomaly.cli_compare import add_compare_commands

    add_compare_commands(commands)
    from pynomaly.cli_export import add_export_command
    from pynomaly.cli_models import add_model_commands

    add_export_command(commands)
    add_model_commands(commands)
    return parser


def _command(
    commands: Commands,
    name: str,
    help: str,  # noqa: A002
    description: str,
    epilog: str = "",
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=help,
        description=description,
        epilog=textwrap.dedent(epilog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_detectors(commands: Commands) -> None:
    p = _command(
        commands,
        "detectors",
        "list the detectors, or show one",
        "List the anomaly detectors this installation knows, or describe one in detail.",
        """\
        examples:
          pynomaly detectors --available
          pynomaly detectors --family proximity --json
          pynomaly detectors show lof
        """,
    )
    p.add_argument("--family", help="only detectors of this family (e.g. proximity)")
    p.add_argument("--available", action="store_true", help="only detectors usable here")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_detectors)
    sub = p.add_subparsers(dest="detectors_command", metavar="SUBCOMMAND")
    show = sub.add_parser("show", help="describe one detector and its parameters")
    show.add_argument("key", metavar="KEY", help="detector key, as listed by `pynomaly detectors`")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=cmd_detectors_show)


def _add_pipeline_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("detectors")
    g.add_argument(
        "-d",
        "--detector",
        dest="detectors",
        action="append",
        metavar="KEY",
        help="detector to use; repeat for an ensemble (default: iforest)",
    )
    g.add_argument(
        "--combine",
        choices=("average", "maximum", "aom", "moa"),
        default="average",
        help="how an ensemble combines its detectors' scores (default: average)",
    )
    g.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="detector parameter, e.g. n_estimators=200; in an ensemble KEY.NAME=VALUE",
    )
    t = p.add_argument_group("threshold (pick one; default: the engine's)")
    ex = t.add_mutually_exclusive_group()
    ex.add_argument("--contamination", type=float, metavar="F", help="flag this share of rows")
    ex.add_argument("--threshold-score", type=float, metavar="X", help="flag rows scoring above X")
    ex.add_argument("--top-k", type=int, metavar="K", help="flag the K highest-scoring rows")
    ex.add_argument("--auto-threshold", action="store_true", help="choose the cut-off from data")
    d = p.add_argument_group("preparation")
    d.add_argument(
        "--scaling",
        choices=("standard", "robust", "none"),
        default="standard",
        help="how numeric columns are scaled (default: standard)",
    )
    d.add_argument(
        "--max-fit-rows",
        type=_positive_int,
        metavar="N",
        help="fit on a seeded sample of N rows (scoring still covers every row)",
    )
    d.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    d.add_argument(
        "--exclude-column",
        action="append",
        default=[],
        metavar="C",
        help="leave this column out of the model (repeatable)",
    )


def _add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--label-column", metavar="C", help="ground-truth column (1 = anomaly)")
    g.add_argument(
        "--train-labels",
        metavar="C",
        help="partial training labels (1 anomaly, 0 normal, empty unknown) for -d auto; "
        "not used as a feature",
    )
    g.add_argument(
        "--time-column",
        metavar="C",
        help="timestamp column (default: detected; 'none' for none); not used as a feature",
    )
    g.add_argument("--format", help="data format, when the content and name do not tell")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    g.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write row_id, score, label, severity to FILE (.parquet, .csv or .tsv); "
        "Parquet adds contrib:<feature> columns for detectors that explain their scores",
    )
    g.add_argument(
        "--chunk-size",
        type=_positive_int,
        metavar="N",
        help="score N rows at a time (default: 100000; more for ECOD/COPOD, see pynomaly.detect)",
    )
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")


def _add_detect(commands: Commands) -> None:
    p = _command(
        commands,
        "detect",
        "fit detectors on a file and score every row",
        "Fit one detector (or an ensemble) on DATA, score every row and summarise.",
        """\
        examples:
          pynomaly detect sensors.csv -o scores.parquet
          pynomaly detect sensors.csv -d knn --param n_neighbors=20 --top-k 50
          pynomaly detect sensors.csv -d iforest -d ecod --param iforest.n_estimators=300
          pynomaly detect labelled.csv --label-column y    # prints ROC-AUC, F1, ...
          pynomaly detect data.csv -d auto                 # Pynomaly chooses, says why
          pynomaly detect data.csv -d auto --train-labels known   # 1/0/empty labels
          pynomaly detect nodes.csv --edges edges.csv -d dominant -o node_scores.csv  # a graph
          pynomaly detect fleet.csv --time-column ts --value-column temp --id-column sensor \
              -d spectralresidual                          # time series, with intervals
        """,
    )
    p.add_argument("data", metavar="DATA", help="data file (the nodes file with --edges)")
    _add_pipeline_options(p)
    _add_data_options(p)
    _add_output_options(p)
    from pynomaly.cli_graph import add_graph_options

    add_graph_options(p)
    g = p.add_argument_group("time series (with a detector of the 'time series' family)")
    g.add_argument(
        "--value-column",
        action="append",
        default=[],
        metavar="C",
        help="a value column of the series (repeatable; default: every numeric column)",
    )
    g.add_argument(
        "--id-column",
        metavar="C",
        help="time series: one series per value of this column; with --edges: the nodes' id "
        "column (default: id, node or the first column)",
    )
    g.add_argument(
        "--window", type=_positive_int, metavar="N", help="window of the detector, in points"
    )
    p.add_argument(
        "--explain",
        type=int,
        default=10,
        metavar="N",
        help="show the top attributed features of the N highest flagged rows (default 10; 0: off)",
    )
    p.add_argument(
        "--from-model",
        metavar="MODEL",
        help="fine-tune a deep detector (AutoEncoder, VAE) from this saved model of the "
        "same detector and columns (its .sha256 beside it)",
    )
    p.set_defaults(func=cmd_detect)


def _add_train(commands: Commands) -> None:
    p = _command(
        commands,
        "train",
        "fit detectors and save the model",
        "Fit one detector (or an ensemble) on DATA and save it, to score other files later.",
        """\
        example:
          pynomaly train normal.parquet -d iforest -o model.skops
          pynomaly score model.skops new.csv -o scores.csv
        """,
    )
    p.add_argument("data", metavar="DATA", help="training data file")
    _add_pipeline_options(p)
    _add_data_options(p)
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    p.set_defaults(func=cmd_train)


def _add_score(commands: Commands) -> None:
    from pynomaly.cli_remote import SCORE_HELP

    p = _command(
        commands,
        "score",
        "score a file with a saved model (local file, or a model id on the server)",
        "Score every row of DATA with a model saved by `pynomaly train`, or with a "
        "trained model on the server you are logged in to.",
        SCORE_HELP,
    )
    p.add_argument(
        "model", metavar="MODEL", help="model file from `pynomaly train`, or a server model id"
    )
    p.add_argument(
        "data", metavar="DATA", help="data file with the training columns (remote: JSON Lines)"
    )
    p.add_argument("--sha256", help="refuse the model unless its SHA-256 matches")
    p.add_argument(
        "--dask",
        metavar="CLUSTER",
        help="score a Parquet DATA in partitions on a Dask cluster: a scheduler address "
        "(tcp://host:8786; every worker must read MODEL and DATA at these paths) or local[:N] "
        "(N worker processes here); the same scores as without it",
    )
    _add_data_options(p)
    _add_output_options(p)
    p.set_defaults(func=cmd_score)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (DetectionFailed, Cancelled) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `pynomaly detectors | head`
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        from pynomaly.cli_remote import remote_exit_code

        code = remote_exit_code(exc)  # server refusals and failed jobs: no traceback
        if code is not None:
            return code
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc}\n"
            "(this is a bug in pynomaly; run again with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
