"""Automatic detector selection: the ``auto`` detector key.

Without labels we start where PyOD 3's ``ADEngine`` starts - a profile of the data and
benchmark evidence - and go further: a committed table of numbers (``automl_table.json``,
derived from the 31 ADBench sets by ``bench/automl_table.py``: per set its meta-features,
:mod:`pynomaly.metafeatures`, and the ROC-AUC / AP of every detector of :data:`POOL` and of
every pair of them combined as the pipeline combines them). ADBench found that no single
detector is best; on this table a *pair* is more reliable than any one detector: the chosen
ensemble is the pair with the best mean ROC-AUC over the benchmark sets that the cost guard
(:mod:`pynomaly.cost`) allows for this size, the average of their standardised scores. The
sets most similar to this data (meta-learning by nearest neighbours in meta-feature space)
predict what each candidate will reach here; the run page shows both.

With partial labels (1 = anomaly, 0 = normal, NaN = unknown):

* a few known anomalies (fewer than ``automl_labels.NEAR_BELOW``) cannot be cross-validated; a
  booster learns the rows it saw. They say where anomalies are: ``labelnear``
  (:class:`pynomaly.supervised.LabelNear`) keeps the unsupervised pair's ranking and raises
  the rows near a known anomaly.
* with more, the candidates are measured on the labelled rows: every affordable pool
  detector and their ensemble directly (they do not see the labels), gradient boosting on
  their scores and the features (LightGBM, and PyOD's XGBOD; :mod:`pynomaly.supervised`) by
  stratified cross-validation. The best wins; measured scores are shrunk towards the
  meta-learning prediction so that a lucky detector on a few rows does not win on noise.

The result is a :class:`Selection`: what was chosen, with its parameters, how it is
combined, reasons in plain words and the alternatives considered with their expected
scores. It is plain data (``to_dict`` is JSON), kept on the fitted pipeline and saved
with it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import cost
from .metafeatures import NAMES, meta_features

if TYPE_CHECKING:
    from .pipeline import PipelineConfig

AUTO = "auto"
TABLE_PATH = Path(__file__).with_name("automl_table.json")
POOL = (
    "iforest",
    "ecod",
    "copod",
    "hbos",
    "knn",
    "lof",
    "pca",
    "ocsvm",
    "cblof",
    "gmm",
    "inne",
    "loda",
)
ENSEMBLE_SIZE = 3
NEIGHBOURS = 5
# The ensemble may cost this many IForests (estimated by the cost guard), but never less
# than MIN_BUDGET_SECONDS: on small data every detector is cheap.
COST_FACTOR = 3.0
MIN_BUDGET_SECONDS = 20.0

ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class Alternative:
    """A candidate that was considered, with the score expected of it."""

    label: str
    detectors: tuple[str, ...]
    expected_roc_auc: float | None
    basis: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "detectors": list(self.detectors),
            "expected_roc_auc": _round(self.expected_roc_auc),
            "basis": self.basis,
            "note": self.note,
        }


@dataclass(frozen=True)
class Selection:
    """What ``auto`` chose and why (see the module note)."""

    detectors: tuple[tuple[str, dict[str, Any]], ...]
    combine: str
    mode: str  # "unsupervised" or "labelled"
    label: str
    expected_roc_auc: float | None
    basis: str
    reasons: tuple[str, ...]
    alternatives: tuple[Alternative, ...]
    meta: dict[str, float] = field(default_factory=dict)
    similar: tuple[str, ...] = ()
    labels: dict[str, int] | None = None

    @property
    def headline(self) -> str:
        """'Chosen: … because …; also considered: …' in one sentence."""
        text = f"Chosen: {self.label} because {self.reasons[0]}" if self.reasons else ""
        others = [a for a in self.alternatives if a.expected_roc_auc is not None][:3]
        if others:
            text += "; also considered: " + ", ".join(
                f"{a.label} ({a.expected_roc_auc:.2f})" for a in others
            )
        return text + "."

    def config(self, base: PipelineConfig) -> PipelineConfig:
        """``base`` with the chosen detectors in place of ``auto``."""
        from .pipeline import PipelineConfig

        return PipelineConfig(
            detectors=self.detectors,
            combine="average",
            prepare=base.prepare,
            threshold=base.threshold,
            seed=base.seed,
            max_fit_rows=base.max_fit_rows,
            exclude_columns=base.exclude_columns,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "detectors": [{"key": k, "params": dict(p)} for k, p in self.detectors],
            "combine": self.combine,
            "mode": self.mode,
            "label": self.label,
            "expected_roc_auc": _round(self.expected_roc_auc),
            "basis": self.basis,
            "reasons": list(self.reasons),
            "alternatives": [a.to_dict() for a in self.alternatives],
            "meta": {k: _round(v) for k, v in self.meta.items()},
            "similar": list(self.similar),
            "labels": self.labels,
            "headline": self.headline,
        }


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def is_auto(config: PipelineConfig) -> bool:
    return any(key == AUTO for key, _ in config.detectors)


# --- the meta-learning table ---------------------------------------------------------


def pairs() -> list[tuple[str, str]]:
    """Every pair of pool detectors, in pool order."""
    return list(itertools.combinations(POOL, 2))


def pair_key(pair: Sequence[str]) -> str:
    return "+".join(pair)


@dataclass(frozen=True)
class Table:
    """Per benchmark set: meta-features and the ROC-AUC of each pool detector and of each
    pair of them (:func:`pairs`; NaN = failed)."""

    names: tuple[str, ...]
    meta: np.ndarray  # sets x NAMES
    auc: np.ndarray  # sets x POOL
    pair_auc: np.ndarray  # sets x pairs()

    def without(self, name: str) -> Table:
        """The table minus one set (leave-one-dataset-out evaluation)."""
        keep = np.array([n != name for n in self.names])
        return Table(
            tuple(n for n in self.names if n != name),
            self.meta[keep],
            self.auc[keep],
            self.pair_auc[keep],
        )

    def _neighbours(self, meta: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        vector = np.array([meta[n] for n in NAMES])
        centre, spread = self.meta.mean(axis=0), self.meta.std(axis=0)
        spread = np.where(spread > 1e-9, spread, 1.0)
        distance = np.linalg.norm(
            (self.meta - centre) / spread - (vector - centre) / spread, axis=1
        )
        order = np.argsort(distance, kind="stable")[:NEIGHBOURS]
        return order, 1.0 / (distance[order] + 0.5)

    def predict(self, meta: dict[str, float]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """Expected ROC-AUC here of each pool detector and of each pair (the similar sets'
        scores, weighted by closeness), and the similar sets it comes from."""
        order, weights = self._neighbours(meta)

        def weighted(auc: np.ndarray) -> np.ndarray:
            values = np.where(np.isfinite(auc[order]), auc[order], 0.5)
            out: np.ndarray = (weights[:, None] * values).sum(axis=0) / weights.sum()
            return out

        similar = tuple(self.names[i] for i in order)
        return weighted(self.auc), weighted(self.pair_auc), similar

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean ROC-AUC over every set of each pool detector and of each pair (a failure
        counts as chance, 0.5)."""
        single = np.where(np.isfinite(self.auc), self.auc, 0.5).mean(axis=0)
        pair = np.where(np.isfinite(self.pair_auc), self.pair_auc, 0.5).mean(axis=0)
        return single, pair


_override: list[Table] = []


@contextlib.contextmanager
def using_table(table: Table) -> Iterator[None]:
    """Select with ``table`` inside the block (the bench's leave-one-dataset-out)."""
    _override.append(table)
    try:
        yield
    finally:
        _override.pop()


def current_table() -> Table:
    return _override[-1] if _override else load_table()


@functools.cache
def load_table(path: str = str(TABLE_PATH)) -> Table:
    """The committed table (``bench/automl_table.py`` writes it)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if list(data["meta_features"]) != list(NAMES) or list(data["pool"]) != list(POOL):
        raise RuntimeError(f"{path} is out of date: re-run python -m bench.automl_table")
    rows = data["datasets"]
    if any("pairs" not in row for row in rows):
        raise RuntimeError(f"{path} is out of date: re-run python -m bench.automl_table")
    meta = np.array([row["meta"] for row in rows], dtype=np.float64)

    def auc(scores: dict[str, Any], keys: list[str]) -> list[float]:
        return [(scores.get(k) or {}).get("roc_auc", math.nan) for k in keys]

    keys = [pair_key(p) for p in pairs()]
    return Table(
        tuple(row["name"] for row in rows),
        meta,
        np.array([auc(row["scores"], list(POOL)) for row in rows], dtype=np.float64),
        np.array([auc(row["pairs"], keys) for row in rows], dtype=np.float64),
    )


# --- names, cost -------------------------------------------------------------------------


def _name(key: str) -> str:
    from .catalogue import get_detector

    return str(get_detector(key).short_name)


def _names(keys: Sequence[str]) -> str:
    return " + ".join(_name(k) for k in keys)


# Detectors the cost guard's complexity class underrates, measured here (100k x 10 floats,
# fit on 20k rows, then scoring every row): INNE 13.4 s against IForest's 0.53 s - within
# seconds on small tables, but a million rows would take minutes. ECOD and COPOD rank every
# scored chunk together with the training rows (pynomaly.detect's note): on 1M x 10 an
# ECOD + PCA + IForest ensemble took 72 s against IForest's 13 s. Above this many scored
# rows they are left out.
_SLOW_ABOVE_ROWS = {"inne": 50_000, "ecod": 200_000, "copod": 200_000}


def _budget(*, rows: int, columns: int, max_fit_rows: int | None) -> float:
    """The ensemble's time budget: COST_FACTOR IForests, at least MIN_BUDGET_SECONDS."""
    one_forest = cost.estimate_pipeline(
        rows=rows, columns=columns, keys=["iforest"], max_fit_rows=max_fit_rows
    )
    return max(COST_FACTOR * one_forest.seconds, MIN_BUDGET_SECONDS)


def _affordable(
    ranked: Sequence[str],
    *,
    rows: int,
    columns: int,
    max_fit_rows: int | None,
    size: int,
    budget: float | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Up to ``size`` of ``ranked`` (best first) within the cost budget (default: the
    ensemble's, COST_FACTOR IForests); why others are out."""
    fit = {"max_fit_rows": max_fit_rows}
    if budget is None:
        budget = _budget(rows=rows, columns=columns, max_fit_rows=max_fit_rows)
    chosen: list[str] = []
    excluded: dict[str, str] = {}
    for key in ranked:
        if len(chosen) == size:
            break
        alone = cost.estimate_pipeline(rows=rows, columns=columns, keys=[key], **fit)
        if alone.warnings or rows > _SLOW_ABOVE_ROWS.get(key, rows):
            excluded[key] = "too slow for this size (cost guard)"
            continue
        together = cost.estimate_pipeline(rows=rows, columns=columns, keys=[*chosen, key], **fit)
        if together.seconds > budget:
            excluded[key] = f"over the time budget ({cost.human_seconds(budget)})"
            continue
        chosen.append(key)
    return chosen, excluded


def _not_installed_note() -> Alternative:
    import importlib.util

    why = (
        "a deep semi-supervised detector; automatic selection does not try it (choose "
        "DevNet with a training label column)"
        if importlib.util.find_spec("torch") is not None
        else "a deep semi-supervised detector; needs torch, which is not installed here"
    )
    return Alternative("DevNet", ("devnet",), None, "not run", why)


# --- selection ---------------------------------------------------------------------------


def select(
    X: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    rows: int | None = None,
    max_fit_rows: int | None = None,
    size: int = ENSEMBLE_SIZE,
    seed: int = 42,
    table: Table | None = None,
    should_stop: ShouldStop | None = None,
) -> Selection:
    """Choose detectors for the prepared matrix ``X`` (the fit rows).

    Parameters
    ----------
    X : ndarray
        Prepared features of the rows the pipeline is fitted on.
    labels : ndarray, optional
        Same length as ``X``: 1 known anomaly, 0 known normal, NaN unknown.
    rows : int, optional
        Rows that will be scored (for the cost guard); defaults to ``len(X)``.
    max_fit_rows : int, optional
        The fit sample of the run (the cost guard counts it).
    size : int
        Most detectors in the ensemble (1: a single detector, else a pair).
    table : Table, optional
        Meta-learning table (default: the committed one); benches pass one without the
        set being evaluated.
    """
    table = table if table is not None else current_table()
    meta = meta_features(X, seed=seed)
    expected, expected_pairs, similar = table.predict(meta)
    mean_single, mean_pair = table.means()
    score_of = {k: float(expected[i]) for i, k in enumerate(POOL)}
    ranked = [POOL[i] for i in np.argsort(-expected, kind="stable")]
    scored_rows = int(rows if rows is not None else len(X))
    fit = {"rows": scored_rows, "columns": X.shape[1], "max_fit_rows": max_fit_rows}
    _, excluded = _affordable(POOL, size=len(POOL), budget=math.inf, **fit)
    candidates: list[Candidate] = [
        Candidate((k,), float(mean_single[i]), float(expected[i])) for i, k in enumerate(POOL)
    ]
    if max(1, int(size)) >= 2:
        candidates = [
            Candidate(p, float(mean_pair[i]), float(expected_pairs[i]))
            for i, p in enumerate(pairs())
        ] + candidates
    candidates.sort(key=lambda c: -c.mean)
    chosen: Candidate | None = None
    over: dict[tuple[str, ...], str] = {}
    budget = _budget(**fit)
    for c in candidates:
        if any(k in excluded for k in c.keys):
            continue
        fits, why = _affordable(c.keys, size=len(c.keys), budget=budget, **fit)
        if len(fits) == len(c.keys):
            chosen = c
            break
        over[c.keys] = next(iter(why.values()))
    if chosen is None:  # every detector over budget: the cheapest there is
        chosen = next(c for c in candidates if c.keys == ("hbos",))
        excluded = {k: "too slow for this size (cost guard)" for k in POOL if k != "hbos"}
    if labels is not None:
        y = np.asarray(labels, dtype=np.float64)
        if len(y) != len(X):
            raise ValueError(f"{len(y)} labels for {len(X)} rows")
        n_pos = int((y == 1).sum())
        from . import automl_labels as labelled

        if 0 < n_pos < labelled.NEAR_BELOW:
            return labelled.near(y, meta, similar, chosen, excluded)
        if n_pos:
            return labelled.select_labelled(
                X,
                y,
                meta,
                similar,
                score_of,
                ranked,
                excluded,
                scored_rows,
                max_fit_rows,
                seed,
                should_stop,
            )
    return _unsupervised(
        meta, similar, len(table.names), chosen, candidates, over, excluded, labels
    )


@dataclass(frozen=True)
class Candidate:
    """One detector or a pair: its mean ROC-AUC over the table's sets, and the expected
    one here (from the sets most like this data)."""

    keys: tuple[str, ...]
    mean: float
    expected: float

    @property
    def label(self) -> str:
        return _names(self.keys)


def _unsupervised(
    meta: dict[str, float],
    similar: tuple[str, ...],
    sets: int,
    chosen: Candidate,
    candidates: list[Candidate],
    over: dict[tuple[str, ...], str],
    excluded: dict[str, str],
    labels: np.ndarray | None,
) -> Selection:
    best_single = max((c for c in candidates if len(c.keys) == 1), key=lambda c: c.mean)
    kind = "pairs of pool detectors" if len(chosen.keys) > 1 else "pool detectors"
    top = candidates[0]

    def why_out(c: Candidate) -> str:
        """Why the cost guard refused ``c`` ("" if it did not)."""
        return over.get(c.keys) or next((excluded[k] for k in c.keys if k in excluded), "")

    if chosen is top:
        first = (
            f"of the {sum(len(c.keys) == len(chosen.keys) for c in candidates)} {kind}, it had "
            f"the best mean ROC-AUC over the {sets} benchmark sets ({chosen.mean:.3f}"
        )
        first += (
            f"; the best single detector, {best_single.label}, {best_single.mean:.3f})"
            if len(chosen.keys) > 1
            else ")"
        )
    else:
        first = (
            f"of the {kind} that the cost guard allows for this size, it had the best mean "
            f"ROC-AUC over the {sets} benchmark sets ({chosen.mean:.3f}); {top.label}, the best "
            f"overall ({top.mean:.3f}), is {why_out(top)}"
        )
    reasons = [
        first,
        f"on the benchmark sets most like this data ({', '.join(similar[:3])}) it reached "
        f"{chosen.expected:.2f}",
    ]
    if len(chosen.keys) > 1:
        reasons.append(
            "their standardised scores are averaged: ADBench found no detector best on every "
            "kind of data, and where one of the two misses a kind of anomaly the other often "
            "finds it"
        )
    reasons.append(_profile_sentence(meta))
    if labels is not None:
        reasons.append("the training labels hold no known anomaly, so they could not be used")
    if excluded:
        reasons.append(
            "left out: " + "; ".join(f"{_name(k)} ({why})" for k, why in list(excluded.items())[:4])
        )

    def note(c: Candidate) -> str:
        parts = [f"mean over the benchmark sets {c.mean:.3f}"]
        why = why_out(c)
        return "; ".join([*parts, why] if why else parts)

    shown = [c for c in candidates if c is not chosen and len(c.keys) > 1][:5]
    shown += sorted(
        (c for c in candidates if len(c.keys) == 1 and c.keys != chosen.keys),
        key=lambda c: -c.expected,
    )
    alternatives = [
        Alternative(c.label, c.keys, c.expected, "meta-learning", note(c)) for c in shown
    ]
    alternatives.append(
        Alternative(
            "LabelNear, LightGBM / XGBOD on detector scores",
            ("labelnear", "labelboost"),
            None,
            "not run",
            "need training labels with known anomalies",
        )
    )
    alternatives.append(_not_installed_note())
    return Selection(
        detectors=tuple((k, {}) for k in chosen.keys),
        combine="average",
        mode="unsupervised",
        label=chosen.label,
        expected_roc_auc=chosen.expected,
        basis="meta-learning",
        reasons=tuple(reasons),
        alternatives=tuple(alternatives),
        meta=meta,
        similar=similar,
        labels=None,
    )


def _profile_sentence(meta: dict[str, float]) -> str:
    rows, features = 10 ** meta["log_rows"], 10 ** meta["log_features"]
    parts = [f"{rows:,.0f} rows × {features:,.0f} features"]
    if meta["discrete_share"] >= 0.3:
        parts.append(f"{meta['discrete_share']:.0%} of the features take few values")
    if meta["duplicate_share"] >= 0.05:
        parts.append(f"{meta['duplicate_share']:.0%} duplicated rows")
    if meta["correlation"] >= 0.3:
        parts.append("strongly correlated features")
    if meta["skew"] >= 2:
        parts.append("skewed features")
    return "the data's profile: " + ", ".join(parts)
