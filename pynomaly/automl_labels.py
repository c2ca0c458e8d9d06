"""Automatic selection with training labels (see :mod:`pynomaly.automl`'s note).

A few known anomalies (fewer than :data:`NEAR_BELOW`): LabelNear on the unsupervised choice
(:func:`near`). More: the candidates measured on the labelled rows and label-trained models
cross-validated (:func:`select_labelled`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .automl import (
    ENSEMBLE_SIZE,
    POOL,
    Alternative,
    Candidate,
    Selection,
    ShouldStop,
    _affordable,
    _name,
    _names,
    _not_installed_note,
    _profile_sentence,
)

# Fewer labelled anomalies than this: LabelNear (no cross-validation). On the bench's sets
# with 1 % of the anomalies labelled (1-25 rows) it is what reached the target; LightGBM
# cross-validated on 5+ labels lost to the unsupervised pair on most of them.
NEAR_BELOW = 20
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


def near(
    y: np.ndarray,
    meta: dict[str, float],
    similar: tuple[str, ...],
    chosen: Candidate,
    excluded: dict[str, str],
) -> Selection:
    """A few known anomalies: LabelNear on the unsupervised choice (the module note)."""
    counts = label_counts(y)
    params = {"base": ",".join(chosen.keys)}
    reasons = (
        f"{counts['anomalies']} known "
        f"{'anomaly is' if counts['anomalies'] == 1 else 'anomalies are'} too few to "
        f"cross-validate a model trained on them (it takes {NEAR_BELOW}): the ranking of "
        f"{chosen.label}, the best unsupervised choice here (mean ROC-AUC {chosen.mean:.3f} "
        "over the benchmark sets), is kept, and rows near a known anomaly are raised",
        "a row next to a known anomaly moves up by almost a whole rank; one farther than a "
        "few typical neighbour distances from all of them keeps its place",
        _profile_sentence(meta),
    )
    alternatives = [
        Alternative(
            chosen.label, chosen.keys, chosen.expected, "meta-learning", "ignores the labels"
        ),
        Alternative(
            "LightGBM / XGBOD on detector scores",
            ("labelboost",),
            None,
            "not run",
            f"needs at least {NEAR_BELOW} labelled anomalies (got {counts['anomalies']})",
        ),
        *(
            Alternative(_name(k), (k,), None, "not run", why)
            for k, why in list(excluded.items())[:4]
        ),
        _not_installed_note(),
    ]
    return Selection(
        detectors=(("labelnear", params),),
        combine="average",
        mode="labelled",
        label=f"LabelNear on {chosen.label}",
        expected_roc_auc=None,
        basis="labelled rows",
        reasons=reasons,
        alternatives=tuple(alternatives),
        meta=meta,
        similar=similar,
        labels=counts,
    )


def label_counts(y: np.ndarray) -> dict[str, int]:
    return {
        "anomalies": int((y == 1).sum()),
        "normals": int((y == 0).sum()),
        "unknown": int((~np.isfinite(y)).sum()),
    }


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
    from .supervised import score_stats

    mean, std = score_stats(raw)
    out: np.ndarray = (raw - mean) / std
    return out


def select_labelled(
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

    counts = label_counts(y)
    n_pos, n_neg = counts["anomalies"], counts["normals"]
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
        from .supervised import lightgbm_classifier

        model: Any = lightgbm_classifier(n_pos, weight, seed)
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
