"""``pynomaly detect`` for time series: a detector of the ``time series`` family, or
``--value-column`` / ``--id-column``, reads DATA as series (:mod:`pynomaly.timeseries`).

Prints the series, the flagged points and the anomalous intervals; ``-o`` writes the
points (Parquet: the platform's time-series results table; CSV/TSV: row_id, series, time,
score, label, severity, interval).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pynomaly.cli_output import (
    EXIT_OK,
    Progress,
    UsageError,
    _check_output_path,
    _num,
    _say,
    _table,
)

if TYPE_CHECKING:
    from pynomaly.scores import Threshold
    from pynomaly.timeseries import SeriesResult

MAX_PRINTED_INTERVALS = 15


def wants_series(args: argparse.Namespace) -> bool:
    """Whether ``detect`` should read DATA as time series."""
    from pynomaly.catalogue import get_detector
    from pynomaly.ts_detectors import FAMILY

    families = {get_detector(k).family for k in (args.detectors or ["iforest"])}
    if FAMILY in families:
        if len(args.detectors) > 1:
            raise UsageError("a time-series detector runs alone: give one -d")
        return True
    if args.value_column or args.id_column or args.window:
        raise UsageError(
            "--value-column, --id-column and --window need a time-series detector "
            "(-d spectralresidual, timeseriesod, windowfeatures, matrixprofile, lstmad, …)"
        )
    return False


def _threshold(args: argparse.Namespace) -> Threshold:
    from pynomaly.scores import Threshold

    if args.contamination is not None:
        return Threshold("contamination", args.contamination)
    if args.threshold_score is not None:
        return Threshold("score", args.threshold_score)
    if args.top_k is not None:
        return Threshold("top_k", args.top_k)
    if args.auto_threshold:
        return Threshold("auto", None)
    return Threshold()


def cmd_detect_series(args: argparse.Namespace) -> int:
    from pynomaly import timeseries
    from pynomaly.catalogue import get_detector
    from pynomaly.cli_local import parse_params
    from pynomaly.cost import estimate_series, human_seconds, series_refusal
    from pynomaly.data import load
    from pynomaly.evaluate import evaluate

    _check_output_path(args.output)
    spec = get_detector(args.detectors[0])
    raw = parse_params(args.param, [spec.key])[spec.key]
    t0 = time.perf_counter()
    time_column = args.time_column if args.time_column not in (None, "none") else "auto"
    loaded = load(
        args.data, format=args.format, label_column=args.label_column, time_column=time_column
    )
    df = loaded.frame
    column = args.time_column if args.time_column not in (None, "none") else loaded.time_column
    if not column:
        raise UsageError("no time column found in DATA: name it with --time-column C")
    options = timeseries.SeriesOptions.from_dict(
        {
            "time_column": column,
            "value_columns": args.value_column,
            "id_column": args.id_column,
            "window": args.window,
        }
    )
    excluded = {c for c in (args.label_column,) if c}
    numeric = [c for c in timeseries.numeric_columns(df) if c not in excluded]
    options = options.check([str(c) for c in df.columns], numeric)
    loading = time.perf_counter() - t0
    series = df[options.id_column].nunique() if options.id_column else 1
    params = spec.validate_params(raw)
    refusal = series_refusal(spec.key, len(df) // max(series, 1))
    if refusal:
        raise UsageError(refusal)
    cost = estimate_series(
        key=spec.key,
        rows=len(df),
        series=series,
        channels=len(options.value_columns),
        params=params,
    )
    for warning in cost.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    progress = Progress(not args.quiet)
    t0 = time.perf_counter()
    try:
        result = timeseries.detect(
            df, options, key=spec.key, params=raw, threshold=_threshold(args), seed=args.seed,
            progress=progress, on_epoch=progress.epoch,
        )  # fmt: skip
    finally:
        progress.close()
    seconds = time.perf_counter() - t0
    found = result.intervals()
    if args.output:
        _write(result, Path(args.output))
    if not args.quiet:
        print(
            f"{spec.short_name} on {series} series ({', '.join(options.value_columns)} by "
            f"{options.time_column}): {int(result.labels.sum()):,} of {len(df):,} points flagged "
            f"in {len(found):,} intervals (threshold {_num(result.threshold)}); load "
            f"{human_seconds(loading)}, fit {human_seconds(seconds)}"
        )
        ranked = sorted(found, key=lambda i: -i["severity"])[:MAX_PRINTED_INTERVALS]
        if ranked:
            rows = [
                (i["series"] or "—", i["start"], i["end"], i["points"], f"{i['severity']:.1f}")
                for i in ranked
            ]
            _table(("SERIES", "START", "END", "POINTS", "SEVERITY"), rows)
            if len(found) > len(ranked):
                print(f"… {len(found) - len(ranked):,} more intervals (-o FILE has every point)")
    if loaded.label_column:
        metrics = evaluate(df[loaded.label_column].to_numpy(), result.scores, result.labels)
        _say(args, "against the labels: " + ", ".join(
            f"{k} {_num(metrics[k])}" for k in ("roc_auc", "average_precision", "f1")
            if metrics.get(k) is not None
        ))  # fmt: skip
    return EXIT_OK


def _write(result: SeriesResult, path: Path) -> None:
    import pyarrow.csv as pacsv

    from pynomaly import timeseries

    if path.suffix.lower() in (".parquet", ".pq"):
        timeseries.write(result, path)
        return
    table = timeseries.table(result).select(
        ["row_id", "series", "time", "score", "label", "severity", "interval"]
    )
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    pacsv.write_csv(table, path, pacsv.WriteOptions(delimiter=delimiter))
