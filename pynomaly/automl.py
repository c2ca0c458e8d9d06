"""Automatic detector selection: the ``auto`` detector key.

Without labels we start where PyOD 3's ``ADEngine`` starts - a profile of the data and
benchmark evidence - and go further: instead of its fixed rules, *meta-learning* over a
committed table of numbers (``automl_table.json``, derived from the 31 ADBench sets by
``bench/automl_table.py``: per set its meta-features, :mod:`pynomaly.metafeatures`, and
the ROC-AUC / AP of every detector of :data:`POOL`). The sets most similar to this data
predict how each detector will do here. Then every candidate is fitted on a small sample
of the rows and we measure how well it agrees with the others (rank correlation with their
mean): detectors that disagree with the consensus are more often wrong. The best few by
agreement (the prediction breaking near-ties) that the cost guard (:mod:`pynomaly.cost`)
allows are combined into a consensus ensemble (the average of their standardised scores).

With partial labels (1 = anomaly, 0 = normal, NaN = unknown), the candidates are measured
on the labelled rows: every affordable pool detector and their ensemble directly (they do
not see the labels), gradient boosting on their scores and the features (LightGBM, and
PyOD's XGBOD; :mod:`pynomaly.supervised`) by stratified cross-validation. The best wins;
with few labelled anomalies, measured scores are shrunk towards the meta-learning
prediction so that a lucky detector on two rows does not win on noise.

The result is a :class:`Selection`: what was chosen, with its parameters, how it is
combined, reasons in plain words and the alternatives considered with their expected
scores. It is plain data (``to_dict`` is JSON), kept on the fitted pipeline and saved
with it.
"""

from __future__ import annotations

import contextlib
import functools
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
# Labelled path: rows used to compare candidates (all labelled rows + a seeded sample).
SELECT_ROWS = 10_000
SHRINK_ROWS = 5  # a measurement on n anomalies counts n / (n + 5) against the prediction
MIN_POSITIVES_FOR_CV = 5
# A label-trained model must beat the best unsupervised candidate by this much: its
# cross-validated score on a few anomalies is the noisier of the two.
SUPERVISED_MARGIN = 0.01
MIN_NEGATIVES = 5  # fewer known normals: unlabelled rows count as normal (PU setting)
CV_FOLDS = 3
SUPERVISED_BASE = 3

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


@dataclass(frozen=True)
class Table:
    """Per benchmark set: meta-features and ROC-AUC of each pool detector (NaN = failed)."""

    names: tuple[str, ...]
    meta: np.ndarray  # sets x NAMES
    auc: np.ndarray  # sets x POOL

    def without(self, name: str) -> Table:
        """The table minus one set (leave-one-dataset-out evaluation)."""
        keep = np.array([n != name for n in self.names])
        return Table(tuple(n for n in self.names if n != name), self.meta[keep], self.auc[keep])

    def predict(self, meta: dict[str, float]) -> tuple[np.ndarray, tuple[str, ...]]:
        """Expected ROC-AUC of each pool detector here, and the similar sets it comes from."""
        vector = np.array([meta[n] for n in NAMES])
        centre, spread = self.meta.mean(axis=0), self.meta.std(axis=0)
        spread = np.where(spread > 1e-9, spread, 1.0)
        distance = np.linalg.norm(
            (self.meta - centre) / spread - (vector - centre) / spread, axis=1
        )
        order = np.argsort(distance, kind="stable")[:NEIGHBOURS]
        weights = 1.0 / (distance[order] + 0.5)
        auc = np.where(np.isfinite(self.auc[order]), self.auc[order], 0.5)
        expected = (weights[:, None] * auc).sum(axis=0) / weights.sum()
        return expected, tuple(self.names[i] for i in order)


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
    meta = np.array([row["meta"] for row in rows], dtype=np.float64)
    auc = np.array(
        [[(row["scores"].get(k) or {}).get("roc_auc", math.nan) for k in POOL] for row in rows],
        dtype=np.float64,
    )
    return Table(tuple(row["name"] for row in rows), meta, auc)


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


def _affordable(
    ranked: Sequence[str], *, rows: int, columns: int, max_fit_rows: int | None, size: int
) -> tuple[list[str], dict[str, str]]:
    """Up to ``size`` of ``ranked`` (best first) within the cost budget; why others are out."""
    fit = {"max_fit_rows": max_fit_rows}
    one_forest = cost.estimate_pipeline(rows=rows, columns=columns, keys=["iforest"], **fit)
    budget = max(COST_FACTOR * one_forest.seconds, MIN_BUDGET_SECONDS)
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
        Most detectors in the ensemble.
    table : Table, optional
        Meta-learning table (default: the committed one); benches pass one without the
        set being evaluated.
    """
    table = table if table is not None else current_table()
    meta = meta_features(X, seed=seed)
    expected, similar = table.predict(meta)
    ranked = [POOL[i] for i in np.argsort(-expected, kind="stable")]
    score_of = {k: float(expected[POOL.index(k)]) for k in POOL}
    scored_rows = int(rows if rows is not None else len(X))
    chosen, excluded = _affordable(
        ranked,
        rows=scored_rows,
        columns=X.shape[1],
        max_fit_rows=max_fit_rows,
        size=max(1, int(size)),
    )
    if not chosen:  # every detector over budget: the cheapest there is
        chosen, excluded = ["hbos"], {k: "too slow for this size (cost guard)" for k in ranked}
    if labels is not None:
        y = np.asarray(labels, dtype=np.float64)
        if len(y) != len(X):
            raise ValueError(f"{len(y)} labels for {len(X)} rows")
        if int((y == 1).sum()) > 0:
            return _select_labelled(
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
    agreement = _consensus(X, [k for k in ranked if k not in excluded], seed, should_stop)
    if agreement:
        # Order by agreement with the others' consensus, nudged by the meta-learning
        # prediction; then fill the ensemble within the cost budget in that order.
        order = sorted(agreement, key=lambda k: -(agreement[k] + META_WEIGHT * score_of[k]))
        chosen, more = _affordable(
            order,
            rows=scored_rows,
            columns=X.shape[1],
            max_fit_rows=max_fit_rows,
            size=max(1, int(size)),
        )
        excluded = {**excluded, **more}
        ranked = order + [k for k in ranked if k not in order]
    return _unsupervised(meta, similar, score_of, ranked, chosen, excluded, labels, agreement)


CONSENSUS_ROWS = 2_000
# How much the meta-learning prediction counts beside the agreement (0-1 scale both): on the
# table's leave-one-out, neighbours' scores alone picked worse than IForest, so they only
# break near-ties here.
META_WEIGHT = 0.25


def _consensus(
    X: np.ndarray, candidates: Sequence[str], seed: int, should_stop: ShouldStop | None
) -> dict[str, float]:
    """How well each candidate agrees with the others (Spearman correlation of its scores
    with the mean rank of the other candidates' scores) on a seeded sample of the rows.

    No labels say which detector is right; one that disagrees with most others (LOF on
    global outliers, LODA on a few dimensions) is more often wrong than they are.
    """
    from scipy.stats import rankdata

    from .catalogue import build_detector
    from .errors import Cancelled

    sample = X
    if len(X) > CONSENSUS_ROWS:
        rng = np.random.default_rng(seed)
        sample = X[np.sort(rng.choice(len(X), size=CONSENSUS_ROWS, replace=False))]
    ranks: dict[str, np.ndarray] = {}
    for key in candidates:
        if should_stop is not None and should_stop():
            raise Cancelled("stopped on request")
        try:
            scores = np.asarray(
                build_detector(key, {}, seed=seed).fit(sample).decision_scores_, dtype=np.float64
            )
        except Exception:  # noqa: BLE001 - a candidate that fails here is not chosen
            continue
        if np.isfinite(scores).all() and scores.std() > 0:
            ranks[key] = rankdata(scores) / len(scores)
    if len(ranks) < 3:
        return {}
    total = np.sum(list(ranks.values()), axis=0)
    out: dict[str, float] = {}
    for key, r in ranks.items():
        others = (total - r) / (len(ranks) - 1)
        out[key] = float(np.corrcoef(r, others)[0, 1])
    return out


def _unsupervised(
    meta: dict[str, float],
    similar: tuple[str, ...],
    score_of: dict[str, float],
    ranked: list[str],
    chosen: list[str],
    excluded: dict[str, str],
    labels: np.ndarray | None,
    agreement: dict[str, float] | None = None,
) -> Selection:
    ensemble_expected = float(np.mean([score_of[k] for k in chosen]))
    if agreement:
        first = (
            f"they agree best with the other detectors on this data (rank correlation "
            f"{min(agreement[k] for k in chosen):.2f}–{max(agreement[k] for k in chosen):.2f}) "
            f"and did well on the benchmark sets most like it ({', '.join(similar[:3])})"
        )
    else:
        first = (
            f"on the benchmark sets most like this data ({', '.join(similar[:3])}) "
            f"{_names(chosen)} ranked best"
        )
    reasons = [
        first,
        "their standardised scores are averaged: a consensus is steadier than any one "
        "detector when no labels say which is right",
        _profile_sentence(meta),
    ]
    if labels is not None:
        reasons.append("the training labels hold no known anomaly, so they could not be used")
    if excluded:
        reasons.append(
            "left out: " + "; ".join(f"{_name(k)} ({why})" for k, why in list(excluded.items())[:4])
        )

    def note(k: str) -> str:
        parts = [excluded.get(k, "")]
        if agreement and k in agreement:
            parts.append(f"agreement {agreement[k]:.2f}")
        return "; ".join(p for p in parts if p)

    alternatives = [
        Alternative(_name(k), (k,), score_of[k], "meta-learning", note(k))
        for k in ranked
        if k not in chosen
    ]
    alternatives.append(
        Alternative(
            "LightGBM / XGBOD on detector scores",
            ("labelboost",),
            None,
            "not run",
            "needs training labels with known anomalies",
        )
    )
    alternatives.append(_not_installed_note())
    return Selection(
        detectors=tuple((k, {}) for k in chosen),
        combine="average",
        mode="unsupervised",
        label=_names(chosen),
        expected_roc_auc=ensemble_expected,
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


# --- the labelled path -------------------------------------------------------------------


def _selection_rows(y: np.ndarray, seed: int) -> np.ndarray:
    labelled = np.flatnonzero(np.isfinite(y))
    if len(y) <= SELECT_ROWS:
        return np.arange(len(y))
    rest = np.setdiff1d(np.arange(len(y)), labelled)
    room = max(0, SELECT_ROWS - len(labelled))
    rng = np.random.default_rng(seed)
    extra = rng.choice(rest, size=min(room, len(rest)), replace=False)
    return np.sort(np.concatenate([labelled, extra]))


def _auc(target: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(target, scores))


def _standardised(raw: np.ndarray) -> np.ndarray:
    std = raw.std(axis=0)
    out: np.ndarray = (raw - raw.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return out


def _select_labelled(
    X: np.ndarray,
    y: np.ndarray,
    meta: dict[str, float],
    similar: tuple[str, ...],
    score_of: dict[str, float],
    ranked: list[str],
    excluded: dict[str, str],
    rows: int,
    max_fit_rows: int | None,
    seed: int,
    should_stop: ShouldStop | None,
) -> Selection:
    from .catalogue import build_detector
    from .errors import Cancelled

    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    counts = {"anomalies": n_pos, "normals": n_neg, "unknown": int((~np.isfinite(y)).sum())}
    sub = _selection_rows(y, seed)
    Xs, ys = X[sub], y[sub]
    pu = n_neg < MIN_NEGATIVES
    judged = np.isfinite(ys) | pu  # rows that take part in the comparison
    target = (ys == 1).astype(int)
    candidates, _ = _affordable(
        ranked, rows=rows, columns=X.shape[1], max_fit_rows=max_fit_rows, size=len(POOL)
    )
    raw: dict[str, np.ndarray] = {}
    for key in candidates:
        if should_stop is not None and should_stop():
            raise Cancelled("stopped on request")
        try:
            det = build_detector(key, {}, seed=seed).fit(Xs)
            raw[key] = np.asarray(det.decision_scores_, dtype=np.float64)
        except Exception:  # noqa: BLE001 - a failing candidate is just not chosen
            continue
        if not np.isfinite(raw[key]).all():
            del raw[key]
    weight = n_pos / (n_pos + SHRINK_ROWS)
    measured: dict[str, float] = {}
    shrunk: dict[str, float] = {}
    for key, s in raw.items():
        measured[key] = _auc(target[judged], s[judged])
        shrunk[key] = weight * measured[key] + (1 - weight) * score_of[key]
    best = sorted(shrunk, key=lambda k: -shrunk[k])
    options: list[tuple[str, tuple[tuple[str, dict[str, Any]], ...], float, float, str]] = []
    # (label, detectors, value compared, measured, basis)
    for key in best:
        options.append((_name(key), ((key, {}),), shrunk[key], measured[key], "labelled rows"))
    top = best[:ENSEMBLE_SIZE]
    if len(top) > 1:
        combined = _standardised(np.column_stack([raw[k] for k in top])).mean(axis=1)
        m = _auc(target[judged], combined[judged])
        prior = float(np.mean([score_of[k] for k in top]))
        options.append(
            (
                _names(top),
                tuple((k, {}) for k in top),
                weight * m + (1 - weight) * prior,
                m,
                "labelled rows",
            )
        )
    notes: list[Alternative] = []
    base = best[:SUPERVISED_BASE]
    if n_pos >= MIN_POSITIVES_FOR_CV and (target[judged] == 0).sum() >= CV_FOLDS and base:
        tos = _standardised(np.column_stack([raw[k] for k in base]))
        for booster, blend, label in (
            ("lightgbm", 0.0, "LightGBM on detector scores + features"),
            ("lightgbm", 1.0, "LightGBM on detector scores + features, blended with them"),
            ("xgbod", 0.0, "XGBOD (XGBoost on detector scores + features)"),
        ):
            if should_stop is not None and should_stop():
                raise Cancelled("stopped on request")
            cv = _cross_validated(Xs[judged], tos[judged], target[judged], booster, blend, seed)
            if cv is None:
                continue
            m = cv
            params = {"booster": booster, "base": ",".join(base), "blend": blend}
            options.append(
                (label, (("labelboost", params),), m - SUPERVISED_MARGIN, m, "cross-validation")
            )
    else:
        notes.append(
            Alternative(
                "LightGBM / XGBOD on detector scores",
                ("labelboost",),
                None,
                "not run",
                f"needs at least {MIN_POSITIVES_FOR_CV} labelled anomalies to cross-validate "
                f"(got {n_pos})",
            )
        )
    options.sort(key=lambda o: -o[2])
    label, detectors, value, measured_value, basis = options[0]
    supervised = detectors[0][0] == "labelboost"
    against = "known normals" if not pu else "the unlabelled rows (mostly normal)"
    reasons = [
        f"it scored best on the labelled rows: ROC-AUC {measured_value:.2f} "
        f"({'cross-validated, ' if supervised else ''}{n_pos} known anomalies against {against})",
    ]
    if supervised:
        reasons.append(
            f"it is trained on the labels, with the scores of {_names(base)} as extra features"
        )
    else:
        reasons.append(
            "the labels pick among unsupervised detectors; with few labelled anomalies each "
            f"measurement is weighed {weight:.0%} against the meta-learning prediction"
        )
    reasons.append(_profile_sentence(meta))
    alternatives = [Alternative(o[0], tuple(k for k, _ in o[1]), o[2], o[4]) for o in options[1:]]
    alternatives += [
        Alternative(_name(k), (k,), score_of[k], "meta-learning", why)
        for k, why in excluded.items()
        if k not in raw
    ]
    alternatives += [*notes, _not_installed_note()]
    return Selection(
        detectors=detectors,
        combine="average",
        mode="labelled",
        label=label,
        expected_roc_auc=value,
        basis=basis,
        reasons=tuple(reasons),
        alternatives=tuple(alternatives),
        meta=meta,
        similar=similar,
        labels=counts,
    )


def _cross_validated(
    X: np.ndarray, tos: np.ndarray, target: np.ndarray, booster: str, blend: float, seed: int
) -> float | None:
    """Out-of-fold ROC-AUC of a booster on [features, detector scores]."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(CV_FOLDS, int(target.sum()))
    if folds < 2:
        return None
    oof = np.zeros(len(target))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(X, target):
        p = _boost_predict(X[train], tos[train], target[train], X[test], tos[test], booster, seed)
        oof[test] = _logit_z(p) + (blend + 1e-3) * tos[test].mean(axis=1)
    return _auc(target, oof)


def _logit_z(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    logit = np.log(p) - np.log1p(-p)
    std = logit.std()
    out: np.ndarray = (logit - logit.mean()) / (std if std > 0 else 1.0)
    return out


def _boost_predict(
    X: np.ndarray,
    tos: np.ndarray,
    y: np.ndarray,
    X_new: np.ndarray,
    tos_new: np.ndarray,
    booster: str,
    seed: int,
) -> np.ndarray:
    """The booster LabelBoost trains, on precomputed detector scores (the CV's inner step)."""
    n_pos = int(y.sum())
    weight = (len(y) - n_pos) / max(n_pos, 1)
    features, new = np.hstack([X, tos]), np.hstack([X_new, tos_new])
    if booster == "lightgbm":
        from lightgbm import LGBMClassifier

        model: Any = LGBMClassifier(
            n_estimators=100,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=max(2, min(20, n_pos)),
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            scale_pos_weight=weight,
            random_state=seed,
            n_jobs=1,
            verbose=-1,
        )
    else:
        from xgboost import XGBClassifier

        model = XGBClassifier(
            n_estimators=100,
            max_depth=3,
            learning_rate=0.1,
            scale_pos_weight=weight,
            random_state=seed,
            n_jobs=1,
        )
    model.fit(features, y)
    out: np.ndarray = np.asarray(model.predict_proba(new)[:, 1], dtype=np.float64)
    return out
