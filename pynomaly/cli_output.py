"""What the ``pynomaly`` commands print and write: exit codes, usage errors, progress
bars, tables, the run summary and the scores file.

Engine modules are imported inside the functions (see :mod:`pynomaly.cli`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pynomaly.errors import EngineError

if TYPE_CHECKING:
    import numpy as np

    from pynomaly.pipeline import ScoreResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
OUTPUT_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


class UsageError(EngineError):
    """A command-line mistake that argparse cannot see (exit code 2)."""


class Progress:
    """Engine progress callback drawing a tqdm bar per stage, once it lasts over 1 s."""

    def __init__(self, enabled: bool):
        self.verbose = enabled
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

    def epoch(self, detail: dict[str, Any]) -> None:
        """A deep detector finished an epoch: one line on stderr (loss, time left)."""
        if not self.verbose:
            return
        loss = detail.get("loss")
        text = f"epoch {detail['epoch']}/{detail['epochs']}"
        if loss is not None:
            text += f"  loss {loss:.4f}"
        text += f"  about {detail.get('eta_seconds') or 0:.0f} s left"
        if self.bar is not None:
            self.bar.set_postfix_str(text)
        else:
            print(text, file=sys.stderr, flush=True)

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


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    widths[-1] = 0  # the last column runs free
    for row in (header, *rows):
        print(
            indent + "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)).rstrip()
        )


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
