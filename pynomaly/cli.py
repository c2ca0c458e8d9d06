"""The ``pynomaly`` command: list detectors, find anomalies in a file, train and score.

Engine modules are imported inside the commands, so ``pynomaly --help`` answers at once
instead of waiting for scikit-learn and PyOD to load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pynomaly import __version__
from pynomaly.errors import Cancelled, DetectionFailed, EngineError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pynomaly.catalogue import DetectorSpec
    from pynomaly.data import LoadedData
    from pynomaly.detect import PipelineConfig, ScoreResult
    from pynomaly.params import ParamSpec

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
OUTPUT_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")

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

Data files: CSV, TSV, JSON, JSON Lines, Parquet, Feather/Arrow, Excel .xlsx, HDF5.
Exit codes: 0 ok, 1 detection failed, 2 bad input or usage, 130 interrupted.
"""


class UsageError(EngineError):
    """A command-line mistake that argparse cannot see (exit code 2)."""


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
        """,
    )
    p.add_argument("data", metavar="DATA", help="data file")
    _add_pipeline_options(p)
    _add_data_options(p)
    _add_output_options(p)
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


# --------------------------------------------------------------------------- helpers


class Progress:
    """Engine progress callback drawing a tqdm bar per stage, once it lasts over 1 s."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.stage: str | None = None
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage or done == 0:  # a stage can run twice (sample, then all)
            self.close()
            from tqdm import tqdm

            self.stage = stage
            unit = {"fitting": "detector", "scoring": "chunk"}.get(stage, "step")
            self.bar = tqdm(total=total, desc=stage, unit=unit, delay=1.0, file=sys.stderr)
        if self.bar is not None:
            self.bar.total = total
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.stage = None


def _say(args: argparse.Namespace, text: str = "") -> None:
    if not getattr(args, "quiet", False):
        print(text, flush=True)


def _check_output_path(path: str | None, suffixes: Sequence[str] = OUTPUT_SUFFIXES) -> None:
    """Fail before a long fit, not after it, when the output cannot be written."""
    if path is None:
        return
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"output {path!r} must end in one of {', '.join(suffixes)}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"output folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"output folder {str(parent)!r} is not writable")


def _load(
    args: argparse.Namespace,
) -> tuple[LoadedData, pd.DataFrame, np.ndarray | None]:
    from pynomaly.data import load, split_features

    time_column = args.time_column
    if time_column is None:
        time_column = "auto"
    elif time_column.lower() == "none":
        time_column = None
    loaded = load(
        args.data, format=args.format, label_column=args.label_column, time_column=time_column
    )
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    features, labels, _times = split_features(
        loaded.frame, label_column=loaded.label_column, time_column=loaded.time_column
    )
    return loaded, features, labels


def parse_params(pairs: Sequence[str], keys: Sequence[str]) -> dict[str, dict[str, str]]:
    """Turn ``NAME=VALUE`` / ``KEY.NAME=VALUE`` strings into raw values per detector."""
    out: dict[str, dict[str, str]] = {k: {} for k in keys}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {pair!r}: write NAME=VALUE")
        name = name.strip()
        key, dot, pname = name.partition(".")
        key = key.lower()
        if dot and key in out:
            out[key][pname] = value
        elif dot:
            raise UsageError(
                f"--param {pair!r}: {key!r} is not one of the chosen detectors ({', '.join(keys)})"
            )
        elif len(keys) == 1:
            out[keys[0]][name] = value
        else:
            raise UsageError(
                f"--param {pair!r}: with several detectors write KEY.{name}={value}, "
                f"KEY being one of {', '.join(keys)}"
            )
    return out


def _config(args: argparse.Namespace) -> PipelineConfig:
    from pynomaly.catalogue import get_detector
    from pynomaly.detect import PipelineConfig, Threshold
    from pynomaly.prepare import PrepareOptions

    specs = [get_detector(k) for k in (args.detectors or ["iforest"])]
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise UsageError("a detector is listed twice in -d")
    raw = parse_params(args.param, keys)
    # validate_params coerces the raw strings and fills in every default.
    detectors = tuple((s.key, s.validate_params(raw[s.key])) for s in specs)

    if args.contamination is not None:
        threshold = Threshold("contamination", args.contamination)
    elif args.threshold_score is not None:
        threshold = Threshold("score", args.threshold_score)
    elif args.top_k is not None:
        threshold = Threshold("top_k", args.top_k)
    elif args.auto_threshold:
        threshold = Threshold("auto", None)
    else:
        threshold = Threshold()
    return PipelineConfig(
        detectors=detectors,
        combine=args.combine,
        prepare=PrepareOptions(scaling=args.scaling),
        threshold=threshold,
        seed=args.seed,
        max_fit_rows=args.max_fit_rows,
        exclude_columns=tuple(args.exclude_column),
    )


def _warn_cost(config: PipelineConfig, features: pd.DataFrame) -> None:
    """On stderr, the run form's cost-guard warning when the run looks heavy (never refuses)."""
    from pynomaly.cost import estimate_pipeline

    excluded = set(config.exclude_columns) & set(map(str, features.columns))
    cost = estimate_pipeline(
        rows=len(features),
        columns=features.shape[1] - len(excluded),
        keys=[key for key, _ in config.detectors],
        max_fit_rows=config.max_fit_rows,
    )
    if not cost.heavy:
        return
    for line in [*cost.warnings, cost.summary_text, *cost.suggestion_texts]:
        print(f"warning: {line}", file=sys.stderr)
    hints = []
    if cost.suggested_max_fit_rows:
        hints.append(f"--max-fit-rows {cost.suggested_max_fit_rows}")
    hints += [f"-d {key}" for key in cost.suggested_detectors]
    if hints:
        print(f"warning: (on the command line: {' or '.join(hints)})", file=sys.stderr)


def _report(
    args: argparse.Namespace,
    result: ScoreResult,
    labels: np.ndarray | None,
    *,
    seconds: dict[str, float],
) -> None:
    from pynomaly.detect import summarize

    if args.quiet:
        return
    summary = summarize(result, top=5)
    print(
        f"rows {summary['rows']:,}   anomalies {summary['anomalies']:,} "
        f"({summary['anomaly_rate']:.2%})   threshold {_num(summary['threshold'])}"
    )
    if labels is not None:
        from pynomaly.evaluate import evaluate

        m = evaluate(labels, result.scores, result.labels)
        print(
            f"vs labels: ROC-AUC {_num(m['roc_auc'])}   average precision "
            f"{_num(m['average_precision'])}   precision@{m['k']} {_num(m['precision_at_k'])}   "
            f"F1 {_num(m['f1'])} (precision {_num(m['precision'])}, recall {_num(m['recall'])})"
        )
    top = summary.get("top") or []
    if top:
        print("top rows: " + "   ".join(_top_item(t) for t in list(top)[:5]))
    print("time: " + "   ".join(f"{k} {v:.2f}s" for k, v in seconds.items()))


def _top_item(item: Any) -> str:
    if isinstance(item, dict):
        row = item.get("row", item.get("row_id", item.get("index")))
        score = item.get("score")
        if row is not None and score is not None:
            return f"#{row} {_num(score)}"
        return ", ".join(f"{k}={_num(v)}" for k, v in item.items() if not isinstance(v, dict))
    return str(item)


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_scores(result: ScoreResult, path: str) -> None:
    """Write the results table (``pynomaly.results``): the platform's own file for Parquet."""
    from pynomaly import results

    try:
        results.write(result, path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


# -------------------------------------------------------------------------- commands


def cmd_detectors(args: argparse.Namespace) -> int:
    from pynomaly.catalogue import families, list_detectors

    if args.family and args.family not in families():
        raise UsageError(f"unknown family {args.family!r} (families: {', '.join(families())})")
    specs = list_detectors(family=args.family, available=True if args.available else None)
    if args.json:
        print(json.dumps([_spec_dict(s) for s in specs], indent=2, default=str))
        return EXIT_OK
    rows = [
        (
            s.key,
            s.family,
            s.name if len(s.name) <= 44 else s.name[:43] + "…",
            s.complexity_class or "",
            _availability(s),
        )
        for s in specs
    ]
    _table(("KEY", "FAMILY", "NAME", "COST", "AVAILABLE"), rows)
    print(f"\n{len(specs)} detectors. Details: pynomaly detectors show KEY")
    return EXIT_OK


def cmd_detectors_show(args: argparse.Namespace) -> int:
    from pynomaly.catalogue import get_detector

    s = get_detector(args.key)
    if args.json:
        print(json.dumps(_spec_dict(s), indent=2, default=str))
        return EXIT_OK
    wrap = textwrap.TextWrapper(width=88, initial_indent="  ", subsequent_indent="  ")
    print(f"{s.key} — {s.name} ({s.family})")
    if s.description:
        print("\n" + wrap.fill(s.description))
    for title, items in (("Strengths", s.strengths), ("Weaknesses", s.weaknesses)):
        if items:
            print(f"\n{title}:")
            for item in items:
                print(textwrap.fill(item, 88, initial_indent="  - ", subsequent_indent="    "))
    if getattr(s, "avoid_when", None):
        print("\nAvoid when:\n" + wrap.fill(s.avoid_when))
    if s.complexity_time or s.complexity_class:
        print(
            f"\nCost: {s.complexity_time or ''} {f'({s.complexity_class})' * bool(s.complexity_class)}"
        )
    print("\nParameters:" if s.params else "\nParameters: none")
    if s.params:
        rows = [(p.name, p.kind, _num(p.default), _range(p), p.help or "") for p in s.params]
        _table(("NAME", "TYPE", "DEFAULT", "RANGE", "HELP"), rows, indent="  ")
    if s.requires:
        print("\nRequires: " + ", ".join(map(str, s.requires)))
    if s.available:
        print("\nAvailable: yes")
    else:
        print(f"\nAvailable: no — {s.unavailable_reason or 'requirements missing'}")
        if s.install_hint:
            print(f"Install: {s.install_hint}")
    print(f"Can be saved with `pynomaly train`: {'yes' if s.saveable else 'no'}")
    print(
        f"\nUse it: pynomaly detect DATA -d {s.key}"
        + (f" --param {s.params[0].name}=..." if s.params else "")
    )
    return EXIT_OK


def _availability(spec: DetectorSpec) -> str:
    if not spec.available:
        return f"no: {spec.install_hint or spec.unavailable_reason or 'requirements missing'}"
    if getattr(spec, "supervised", False):
        return "yes (needs labels; not for detect)"
    return "yes"


def _spec_dict(spec: DetectorSpec) -> dict[str, Any]:
    return spec.to_dict()


def _range(p: ParamSpec) -> str:
    if p.choices:
        return " | ".join(map(str, p.choices))
    if p.minimum is None and p.maximum is None:
        return ""
    left = "(" if p.minimum is None or getattr(p, "exclusive_minimum", False) else "["
    lo = "-inf" if p.minimum is None else _num(p.minimum)
    hi, right = ("inf", ")") if p.maximum is None else (_num(p.maximum), "]")
    return f"{left}{lo}, {hi}{right}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    widths[-1] = 0  # the last column runs free
    for row in (header, *rows):
        print(
            indent + "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip()
        )


def cmd_detect(args: argparse.Namespace) -> int:
    from pynomaly.detect import detect

    _check_output_path(args.output)
    config = _config(args)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    _loaded, features, labels = _load(args)
    seconds["load"] = time.perf_counter() - t0
    _warn_cost(config, features)

    t0 = time.perf_counter()
    progress = Progress(not args.quiet)
    try:
        _fitted, result = detect(features, config, progress=progress, chunk_size=args.chunk_size)
    finally:
        progress.close()
    seconds["fit+score"] = time.perf_counter() - t0
    return _write_and_report(args, result, labels, seconds)


def _write_and_report(
    args: argparse.Namespace,
    result: ScoreResult,
    labels: np.ndarray | None,
    seconds: dict[str, float],
) -> int:
    """Write the scores when asked, then print the summary (shared by detect and score)."""
    if args.output:
        t0 = time.perf_counter()
        write_scores(result, args.output)
        seconds["write"] = time.perf_counter() - t0
    _report(args, result, labels, seconds=seconds)
    if args.output:
        _say(args, f"scores written to {args.output}")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from pynomaly.detect import fit
    from pynomaly.persist import save

    _check_output_path(args.output, suffixes=())
    config = _config(args)
    t0 = time.perf_counter()
    _loaded, features, _labels = _load(args)
    _warn_cost(config, features)
    progress = Progress(not args.quiet)
    try:
        fitted = fit(features, config, progress=progress)
    finally:
        progress.close()
    digest = save(fitted, args.output)
    _say(
        args,
        f"trained on {len(features):,} rows × {features.shape[1]} columns "
        f"in {time.perf_counter() - t0:.2f}s",
    )
    _say(args, f"model saved to {args.output} (sha256 {digest})")
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    from pynomaly.cli_remote import cmd_remote_score, is_remote_model
    from pynomaly.persist import load as load_model

    if is_remote_model(args.model):
        return cmd_remote_score(args)

    _check_output_path(args.output)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    fitted = load_model(args.model, sha256=args.sha256)
    _loaded, features, labels = _load(args)
    seconds["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    progress = Progress(not args.quiet)
    try:
        result = fitted.score(features, chunk_size=args.chunk_size, progress=progress)
    finally:
        progress.close()
    seconds["score"] = time.perf_counter() - t0
    return _write_and_report(args, result, labels, seconds)


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
