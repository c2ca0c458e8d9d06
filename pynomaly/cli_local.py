"""The local commands of ``pynomaly``: list detectors, detect, train and score a file.

Engine modules are imported inside the commands (see :mod:`pynomaly.cli`).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pynomaly.cli_output import (
    EXIT_OK,
    Progress,
    UsageError,
    _check_output_path,
    _num,
    _say,
    _table,
    _write_and_report,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pynomaly.catalogue import DetectorSpec
    from pynomaly.data import LoadedData
    from pynomaly.params import ParamSpec
    from pynomaly.pipeline import PipelineConfig


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


def _split_train_labels(
    args: argparse.Namespace, features: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """``--train-labels C``: the column's 1/0/empty labels, and the features without it."""
    from pynomaly.train_labels import parse_train_labels

    column = getattr(args, "train_labels", None)
    if not column:
        return features, None
    if column not in features.columns:
        raise UsageError(f"--train-labels {column!r}: no such column")
    if column == args.label_column:
        raise UsageError("--train-labels and --label-column must name different columns")
    labels = parse_train_labels(features[column], column)
    return features.drop(columns=[column]), labels


def _selection_and_threshold(
    args: argparse.Namespace, fitted: Any, result: Any, labels: Any
) -> None:
    """What auto chose and why, and the threshold check (warnings on stderr)."""
    from pynomaly.threshold_check import check

    if fitted.selection:
        _say(args, fitted.selection["headline"])
    report = check(
        result.scores, result.threshold, kind=fitted.config.threshold.kind, labels=labels
    )
    _say(
        args,
        f"threshold flags {report['flagged_text']} of the rows; the scores suggest about "
        f"{report['expected_text']} are anomalies",
    )
    if report["warning"]:
        print(f"warning: {report['warning']}", file=sys.stderr)
    suggested = report["suggested"]
    if suggested:
        _say(
            args,
            f"on the training labels, --threshold-score {suggested['threshold']:.6g} maximises "
            f"F1 ({suggested['f1']:.2f}) and flags {suggested['flagged_text']} of the rows",
        )


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
        params={key: dict(p) for key, p in config.detectors},
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
            "yes" if s.onnx else "",
            _availability(s),
        )
        for s in specs
    ]
    _table(("KEY", "FAMILY", "NAME", "COST", "ONNX", "AVAILABLE"), rows)
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
    print(f"Exports to ONNX (`pynomaly export`): {'yes' if s.onnx else 'no'}")
    print(
        f"\nUse it: pynomaly detect DATA -d {s.key}"
        + (f" --param {s.params[0].name}=..." if s.params else "")
    )
    return EXIT_OK


def _availability(spec: DetectorSpec) -> str:
    if not spec.available:
        return f"no: {spec.install_hint or spec.unavailable_reason or 'requirements missing'}"
    if getattr(spec, "supervised", False):
        return "yes (trains on labels: --train-labels COLUMN)"
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


def _training(args: argparse.Namespace, progress: Progress) -> Any:
    """Deep detectors: per-epoch lines on stderr; ``--from-model FILE`` to fine-tune from."""
    from pynomaly import deep, persist

    base = None
    if getattr(args, "from_model", None):
        base = persist.load(args.from_model)
    return deep.Training(on_epoch=progress.epoch, base=base)


def cmd_detect(args: argparse.Namespace) -> int:
    from pynomaly.cli_timeseries import cmd_detect_series, wants_series
    from pynomaly.detect import detect

    if getattr(args, "edges", None):
        from pynomaly.cli_graph import cmd_detect_graph

        return cmd_detect_graph(args)

    if wants_series(args):
        return cmd_detect_series(args)
    _check_output_path(args.output)
    config = _config(args)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    _loaded, features, labels = _load(args)
    features, train_labels = _split_train_labels(args, features)
    seconds["load"] = time.perf_counter() - t0
    _warn_cost(config, features)

    t0 = time.perf_counter()
    progress = Progress(not args.quiet)
    training = _training(args, progress)
    try:
        fitted, result = detect(
            features,
            config,
            progress=progress,
            chunk_size=args.chunk_size,
            train_labels=train_labels,
            training=training,
        )
        seconds["fit+score"] = time.perf_counter() - t0
        explanation = None
        if args.explain > 0 and not args.quiet:
            from pynomaly.explain import explain_result

            t0 = time.perf_counter()
            explanation = explain_result(
                fitted, features, result.scores, result.labels, max_rows=args.explain,
                contributions=result.contributions,
                progress=progress,
            )  # fmt: skip
            seconds["explain"] = time.perf_counter() - t0
    finally:
        progress.close()
    status = _write_and_report(args, result, labels, seconds)
    _selection_and_threshold(args, fitted, result, train_labels)
    if explanation is not None:
        _print_explanation(explanation)
    return status


def _print_explanation(explanation: Any) -> None:
    """The method, then per explained row its three features pushing the score up most."""
    if not len(explanation):
        return
    print(f"why (attributions by {explanation.method_label}; units: {explanation.units}):")
    for row_id, score, top in zip(
        explanation.row_ids, explanation.scores, explanation.top(3), strict=True
    ):
        reasons = ", ".join(f"{t['feature']} +{t['value']:.3g}" for t in top) or "—"
        print(f"  #{int(row_id)} score {_num(float(score))}: {reasons}")


def cmd_train(args: argparse.Namespace) -> int:
    from pynomaly.detect import fit
    from pynomaly.persist import save

    _check_output_path(args.output, suffixes=())
    config = _config(args)
    t0 = time.perf_counter()
    _loaded, features, _labels = _load(args)
    features, train_labels = _split_train_labels(args, features)
    _warn_cost(config, features)
    progress = Progress(not args.quiet)
    try:
        fitted = fit(features, config, progress=progress, train_labels=train_labels)
    finally:
        progress.close()
    if fitted.selection:
        _say(args, fitted.selection["headline"])
    digest = save(fitted, args.output)
    _say(
        args,
        f"trained on {len(features):,} rows × {features.shape[1]} columns "
        f"in {time.perf_counter() - t0:.2f}s",
    )
    _say(args, f"model saved to {args.output} (sha256 {digest})")
    return EXIT_OK


def _score_on_dask(args: argparse.Namespace) -> int:
    """``pynomaly score MODEL DATA.parquet --dask CLUSTER``: partitions scored on the workers."""
    from pynomaly import distributed
    from pynomaly.data import split_features
    from pynomaly.persist import load as load_model

    if not str(args.data).lower().endswith((".parquet", ".pq")) and args.format != "parquet":
        raise UsageError("--dask scores Parquet files (each worker reads its row groups)")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    fitted = load_model(args.model, sha256=args.sha256)
    labels = None
    if args.label_column:
        import pandas as pd

        frame = pd.read_parquet(args.data, columns=[args.label_column])
        _features, labels, _times = split_features(
            frame, label_column=args.label_column, time_column=None
        )
    seconds["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with distributed.connect(args.dask) as client:
        result = distributed.score_parquet(
            fitted, args.model, args.data, client, sha256=args.sha256, chunk_size=args.chunk_size
        )
    seconds["score"] = time.perf_counter() - t0
    return _write_and_report(args, result, labels, seconds)


def cmd_score(args: argparse.Namespace) -> int:
    from pynomaly.cli_remote import cmd_remote_score, is_remote_model
    from pynomaly.persist import load as load_model

    if is_remote_model(args.model):
        return cmd_remote_score(args)

    _check_output_path(args.output)
    if getattr(args, "dask", None):
        return _score_on_dask(args)
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
