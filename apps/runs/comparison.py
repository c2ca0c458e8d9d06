"""Reads for comparing runs with statistics: the labels to judge them by, two runs side by
side, and a dataset version's leaderboard.

The statistics are :mod:`pynomaly.stats`; this module finds the runs' rows, aligns them and
keeps each answer in the per-process results cache (keyed on the files, thresholds and
labels, so a new threshold or label recomputes). A request never pays for more than
``STAT_ROWS`` rows: bigger runs are compared on a seeded sample, stratified by label, and
the page says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pynomaly import stats

from . import selectors
from .models import Run

LEVEL = 0.95
N_BOOT = 1000
STAT_ROWS = 20_000  # rows a two-run comparison reads at most (sample beyond)
BOARD_ROW_RUNS = 50_000  # rows × runs a leaderboard reads at most …
BOARD_MIN_ROWS = 5_000  # … but never fewer rows than this
BOARD_MAX_RUNS = 12  # the most recent succeeded runs of a version that are ranked


@dataclass(frozen=True)
class Truth:
    """Known labels of a dataset version's rows.

    ``values[row_id]`` is 1.0 (anomaly), 0.0 (normal) or NaN (unknown); ``source`` says
    where they came from, as a page shows it; ``key`` identifies them in caches.
    """

    values: np.ndarray
    source: str
    key: tuple


def truth_for_runs(runs: Sequence[Run]) -> Truth | None:
    """The labels to judge these runs (on one dataset version) by, or None.

    The first run's label column (a numeric or boolean column; nonzero = anomaly, missing =
    unknown); without one, the analysts' verdicts on the version (anomaly 1, normal 0, the
    other rows unknown), so every comparison, the leaderboard and the API judge by them.
    """
    truth = _column_truth(runs)
    return truth if truth is not None or not runs else _verdict_truth(runs[0])


def _verdict_truth(run: Run) -> Truth | None:
    from apps.feedback.selectors import verdict_labels, verdicts_version
    from pynomaly.feedback import labels_array

    labels = verdict_labels(run.dataset_version)
    if not labels:
        return None
    values = labels_array(labels, int(run.dataset_version.rows))
    key = ("verdicts", run.dataset_version_id, *verdicts_version(run.dataset_version))
    return Truth(values, f"the analysts' verdicts ({len(labels):,} rows)", key)


def _column_truth(runs: Sequence[Run]) -> Truth | None:
    for run in runs:
        name = run.label_column or (run.summary or {}).get("label_column")
        if not name or name not in selectors.dataset_columns(run):
            continue
        f = selectors.dataset_file(run)
        raw = np.asarray(selectors.read_column(f, name, cache=False))
        if raw.dtype.kind not in "biuf":
            continue
        values = raw.astype(np.float64)
        values = np.where(np.isnan(values), np.nan, (values != 0).astype(np.float64))
        return Truth(values, f"the label column “{name}”", ("column", name, *selectors.file_key(f)))
    return None


def comparison_truth(run_a: Run, run_b: Run) -> Truth | None:
    """The labels to compare two runs by (see :func:`truth_for_runs`)."""
    return truth_for_runs([run_a, run_b])


def _common_positions(runs: Sequence[Run]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Row ids every run scored, and each run's result positions of those rows."""
    ids = [selectors.row_ids(r) for r in runs]
    common = ids[0]
    for other in ids[1:]:
        common = np.intersect1d(common, other, assume_unique=True)
    positions = [np.intersect1d(i, common, assume_unique=True, return_indices=True)[1] for i in ids]
    return common, positions


def _run_key(run: Run) -> tuple:
    return (run.pk, run.threshold, *selectors.file_key(run.results))


def _sampling(total: int, used: int, unscored: int = 0) -> dict[str, Any]:
    rule = (
        f"a seeded random sample of {used:,} of the {total:,} rows (stratified by label)"
        if used < total
        else f"all {total:,} rows"
    )
    if unscored:
        rule += f", leaving out {unscored:,} rows without a finite score"
    return {"rows": used, "of": total, "sampled": used < total, "unscored": unscored, "rule": rule}


def _scored(scores: Sequence[np.ndarray], positions: Sequence[np.ndarray]) -> np.ndarray:
    """Which common rows every run gave a finite score (the statistics need numbers)."""
    ok = np.ones(len(positions[0]), dtype=bool)
    for s, p in zip(scores, positions, strict=True):
        ok &= np.isfinite(s[p])
    return ok


def compare_statistics(a: Run, b: Run) -> dict[str, Any]:
    """:func:`pynomaly.stats.compare_runs` for two succeeded runs on the same dataset version.

    Adds ``sampling`` (how many rows, by which rule) and ``truth_source`` (None without labels).
    """
    truth = comparison_truth(a, b)

    def compute() -> dict[str, Any]:
        common, (pa, pb) = _common_positions([a, b])
        ok = _scored([selectors.scores(a), selectors.scores(b)], [pa, pb])
        common, pa, pb = common[ok], pa[ok], pb[ok]
        t = truth.values[common] if truth is not None else None
        pos = stats.subsample(len(common), STAT_ROWS, truth=t, seed=0)
        result = stats.compare_runs(
            t[pos] if t is not None else None,
            selectors.scores(a)[pa[pos]],
            selectors.scores(b)[pb[pos]],
            selectors.flags(a)[pa[pos]],
            selectors.flags(b)[pb[pos]],
            (f"A (#{a.pk})", f"B (#{b.pk})"),
            level=LEVEL,
            n_boot=N_BOOT,
            seed=0,
        )
        result["sampling"] = _sampling(len(common), len(pos), int((~ok).sum()))
        result["truth_source"] = truth.source if truth is not None else None
        return result

    key = ("compare-stats", _run_key(a), _run_key(b), truth.key if truth else None)
    result: dict[str, Any] = selectors.cached(key, compute)
    return result


def version_runs(version) -> list[Run]:
    """The runs a leaderboard ranks: the version's most recent succeeded runs with results."""
    runs = (
        Run.objects.for_tenant(version.tenant)
        .filter(dataset_version=version, status=Run.Status.SUCCEEDED)
        .exclude(results="")
        .select_related("tenant", "dataset_version__dataset", "detector_version__config")
        .order_by("-created_at", "-id")
    )
    readable = []
    for run in runs[: BOARD_MAX_RUNS * 2]:
        try:
            selectors.result_columns(run)
        except selectors.ResultsUnavailable:
            continue
        readable.append(run)
        if len(readable) == BOARD_MAX_RUNS:
            break
    return readable


def leaderboard(version) -> dict[str, Any]:
    """The version's succeeded runs ranked (see :func:`pynomaly.stats.leaderboard`).

    Each entry gains ``run`` (the Run); the result gains ``sampling``, ``truth_source``
    and ``runs_considered``.
    """
    runs = version_runs(version)
    if not runs:
        return {"entries": [], "labelled": False, "runs_considered": 0, "truth_source": None}
    truth = truth_for_runs(runs)

    def compute() -> dict[str, Any]:
        common, positions = _common_positions(runs)
        ok = _scored([selectors.scores(r) for r in runs], positions)
        common, positions = common[ok], [p[ok] for p in positions]
        t = truth.values[common] if truth is not None else None
        cap = max(BOARD_MIN_ROWS, BOARD_ROW_RUNS // len(runs))
        pos = stats.subsample(len(common), cap, truth=t, seed=0)
        board = stats.leaderboard(
            t[pos] if t is not None else None,
            [selectors.scores(r)[p[pos]] for r, p in zip(runs, positions, strict=True)],
            [f"#{r.pk}" for r in runs],
            level=LEVEL,
            n_boot=N_BOOT,
            seed=0,
        )
        board["sampling"] = _sampling(len(common), len(pos), int((~ok).sum()))
        return board

    key = ("leaderboard", *(_run_key(r) for r in runs), truth.key if truth else None)
    board = dict(selectors.cached(key, compute))
    board["entries"] = [{**e, "run": runs[e["index"]]} for e in board["entries"]]
    board["truth_source"] = truth.source if truth is not None else None
    board["runs_considered"] = len(runs)
    return board
