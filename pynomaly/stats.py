"""Statistics for comparing detection results: confidence intervals and paired tests.

Every bootstrap here resamples *rows* and is vectorised (:mod:`pynomaly.resample`): a
bootstrap sample is a vector of counts (how often each row was drawn), so a metric of the
sample is a weighted metric of the original rows, computed for a block of samples at once
with cumulative sums over the rows sorted by score. No sort happens per sample.

With labels (1 = anomaly, 0 = normal):

* :func:`roc_auc_ci`, :func:`average_precision_ci` — percentile bootstrap intervals,
  stratified (positives and negatives resampled separately, as pROC does), so every
  sample holds both classes.
* :func:`delong_test` — DeLong's test for two correlated ROC-AUCs on the same rows
  (the fast algorithm of Sun & Xu, 2014).
* :func:`paired_bootstrap` — the same samples applied to both results; the interval of
  the difference and a two-sided p-value.

Without labels:

* :func:`rank_agreement` — Spearman (bootstrap interval) and Kendall's tau-b (Fisher-z
  interval with the Fieller–Hartley–Pearson variance 0.437 / (n − 4)).
* :func:`flagged_overlap` — Jaccard index and Cohen's kappa of the flagged sets with
  bootstrap intervals (the four cells of the 2 × 2 table are resampled as a multinomial,
  which is the row bootstrap exactly).

:func:`compare_runs` puts them together and writes the sentence a person reads.
Differences are always *B minus A*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .resample import (
    Ranking,
    bootstrap_p,
    labelled_bootstrap,
    midranks,
    percentile,
    point,
    row_blocks,
    weighted_midranks,
    weighted_pearson,
)

# Above this many (rows × samples), Spearman's interval comes from Fisher z, not the bootstrap.
_SPEARMAN_BOOTSTRAP_ELEMENTS = 1_000_000
# Variance factor of Fisher-z(tau) (Fieller, Hartley & Pearson, 1957).
_KENDALL_VARIANCE = 0.437

Interval = dict[str, float | None]


# ---------------------------------------------------------------- validation
def _scores(values: ArrayLike, name: str) -> np.ndarray:
    s = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(s).all():
        raise ValueError(f"{name} holds missing or infinite values")
    return s


def _truth(values: ArrayLike, n: int) -> np.ndarray:
    y = np.asarray(values, dtype=np.float64).ravel()
    if len(y) != n:
        raise ValueError("truth and scores must have the same length")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("truth must hold only 0 (normal) and 1 (anomaly)")
    positives = int(y.sum())
    if positives == 0 or positives == n:
        kind = "anomalies" if positives else "normal rows"
        raise ValueError(f"the labels hold only {kind}: ranking metrics are undefined")
    return y.astype(bool)


def _level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    return float(level)


def _n_boot(n_boot: int) -> int:
    if int(n_boot) < 1:
        raise ValueError("n_boot must be at least 1")
    return int(n_boot)


def _metric_ci(
    truth: ArrayLike, scores: ArrayLike, which: int, level: float, n_boot: int, seed: int
) -> Interval:
    s = _scores(scores, "scores")
    y = _truth(truth, len(s))
    level, n_boot = _level(level), _n_boot(n_boot)
    value = point(y, Ranking(s))[which]
    samples = labelled_bootstrap(y, [s], n_boot, seed)[which][0]
    low, high = percentile(samples, level)
    return {"value": value, "low": low, "high": high}


# ---------------------------------------------------------------- with labels
def roc_auc_ci(
    truth: ArrayLike, scores: ArrayLike, *, level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> Interval:
    """ROC-AUC with a stratified percentile-bootstrap confidence interval.

    Parameters
    ----------
    truth : array-like of 0/1
        1 = anomaly; both classes must be present.
    scores : array-like of float
        Higher = more anomalous.
    level : float
        Coverage of the interval.
    n_boot : int
        Bootstrap samples.
    seed : int
        Seed of the resampling: the same inputs give the same interval.

    Returns
    -------
    dict
        value, low, high.
    """
    return _metric_ci(truth, scores, 0, level, n_boot, seed)


def average_precision_ci(
    truth: ArrayLike, scores: ArrayLike, *, level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> Interval:
    """Average precision (as scikit-learn computes it) with a stratified percentile-bootstrap
    confidence interval; parameters and result as :func:`roc_auc_ci`."""
    return _metric_ci(truth, scores, 1, level, n_boot, seed)


def delong_test(
    truth: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike, *, level: float = 0.95
) -> dict[str, float]:
    """DeLong's test that two results on the same rows have equal ROC-AUC.

    Parameters
    ----------
    truth : array-like of 0/1
    scores_a, scores_b : array-like of float
        Two results' scores for the same rows, higher = more anomalous.

    level : float
        Coverage of the interval of the difference.

    Returns
    -------
    dict
        auc_a, auc_b, diff (``auc_b - auc_a``), z, p_value (two-sided; 1.0 when the two
        AUCs have no variance of their difference, e.g. identical rankings), low and high
        (DeLong's normal interval of the difference).
    """
    from scipy.stats import norm

    a, b = _scores(scores_a, "scores_a"), _scores(scores_b, "scores_b")
    if len(a) != len(b):
        raise ValueError("both results must cover the same rows")
    y = _truth(truth, len(a))
    both = np.vstack([a, b])
    x, z = both[:, y], both[:, ~y]
    m, n = x.shape[1], z.shape[1]
    tx, tz = midranks(x), midranks(z)
    t_all = midranks(np.hstack([x, z]))
    aucs = (t_all[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (t_all[:, :m] - tx) / n
    v01 = 1.0 - (t_all[:, m:] - tz) / m
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((2, 2))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((2, 2))
    cov = s10 / m + s01 / n
    diff = float(aucs[1] - aucs[0])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var <= 1e-15:
        zstat, p, se = 0.0, 1.0, 0.0
    else:
        se = math.sqrt(var)
        zstat = diff / se
        p = float(2 * norm.sf(abs(zstat)))
    half = float(norm.ppf(1 - (1 - _level(level)) / 2)) * se
    return {
        "auc_a": float(aucs[0]),
        "auc_b": float(aucs[1]),
        "diff": diff,
        "z": float(zstat),
        "p_value": min(1.0, p),
        "low": diff - half,
        "high": diff + half,
    }


def _paired(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, level: float, n_boot: int, seed: int
) -> dict[str, dict[str, Any]]:
    """:func:`paired_bootstrap` for both metrics from the same samples, keyed by metric."""
    points = (point(y, Ranking(a)), point(y, Ranking(b)))
    out = {}
    for which, (metric, samples) in enumerate(
        zip(("roc_auc", "ap"), labelled_bootstrap(y, [a, b], n_boot, seed), strict=True)
    ):
        value_a, value_b = points[0][which], points[1][which]
        diffs = samples[1] - samples[0]
        low, high = percentile(diffs, level)
        a_low, a_high = percentile(samples[0], level)
        b_low, b_high = percentile(samples[1], level)
        out[metric] = {
            "metric": metric,
            "value_a": value_a,
            "value_b": value_b,
            "diff": value_b - value_a,
            "low": low,
            "high": high,
            "p_value": bootstrap_p(diffs),
            "a": {"value": value_a, "low": a_low, "high": a_high},
            "b": {"value": value_b, "low": b_low, "high": b_high},
        }
    return out


def paired_bootstrap(
    truth: ArrayLike,
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    *,
    metric: str = "ap",
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired bootstrap of a ranking metric: both results scored on the same samples.

    Parameters
    ----------
    truth : array-like of 0/1
    scores_a, scores_b : array-like of float
    metric : {"ap", "roc_auc"}
    level, n_boot, seed
        As :func:`roc_auc_ci`.

    Returns
    -------
    dict
        metric, value_a, value_b, diff (``value_b - value_a``), low, high (the interval of
        the difference), p_value (two-sided), a (interval of A), b (interval of B).
    """
    if metric not in ("ap", "roc_auc"):
        raise ValueError('metric must be "ap" or "roc_auc"')
    a, b = _scores(scores_a, "scores_a"), _scores(scores_b, "scores_b")
    if len(a) != len(b):
        raise ValueError("both results must cover the same rows")
    y = _truth(truth, len(a))
    return _paired(y, a, b, _level(level), _n_boot(n_boot), seed)[metric]


# ---------------------------------------------------------------- without labels
def rank_agreement(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """How alike two results rank the same rows, with confidence intervals.

    Returns
    -------
    dict
        spearman and kendall, each ``{"value", "low", "high"}`` (all None when either
        result gives every row the same score); rows; methods (how each interval was made).
    """
    from scipy.stats import kendalltau, norm, spearmanr

    a, b = _scores(scores_a, "scores_a"), _scores(scores_b, "scores_b")
    if len(a) != len(b):
        raise ValueError("both results must cover the same rows")
    level, n_boot = _level(level), _n_boot(n_boot)
    n = len(a)
    methods = {
        "spearman": "percentile bootstrap of rows",
        "kendall": "Fisher z, variance 0.437/(n-4)",
    }
    empty: Interval = {"value": None, "low": None, "high": None}
    if n < 5 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"spearman": dict(empty), "kendall": dict(empty), "rows": n, "methods": methods}
    rho = float(spearmanr(a, b).statistic)
    zq = float(norm.ppf(1 - (1 - level) / 2))
    low: float | None
    high: float | None
    if n * n_boot <= _SPEARMAN_BOOTSTRAP_ELEMENTS:
        ra, rb = Ranking(a), Ranking(b)
        samples = [
            weighted_pearson(weighted_midranks(ra, w), weighted_midranks(rb, w), w)
            for w in row_blocks(n, n_boot, seed)
        ]
        boot = np.concatenate(samples)
        boot = boot[np.isfinite(boot)]
        low, high = percentile(boot, level) if len(boot) else (None, None)
    else:
        # Many rows: the interval is narrow and the normal approximation good.
        methods["spearman"] = "Fisher z, variance (1 + rho^2/2)/(n-3) (Bonett & Wright)"
        low, high = _fisher_interval(rho, (1 + rho * rho / 2) / (n - 3), zq)
    tau = float(kendalltau(a, b).statistic)
    t_low, t_high = _fisher_interval(tau, _KENDALL_VARIANCE / (n - 4), zq)
    return {
        "spearman": {"value": rho, "low": low, "high": high},
        "kendall": {"value": tau, "low": t_low, "high": t_high},
        "rows": n,
        "methods": methods,
    }


def _fisher_interval(value: float, variance: float, zq: float) -> tuple[float, float]:
    z = math.atanh(min(max(value, -0.999999), 0.999999))
    half = zq * math.sqrt(variance)
    return math.tanh(z - half), math.tanh(z + half)


def _jaccard_kappa(
    both: np.ndarray, only_a: np.ndarray, only_b: np.ndarray, neither: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    either = both + only_a + only_b
    jaccard = np.divide(both, either, out=np.ones_like(both), where=either > 0)
    n = either + neither
    pa, pb = (both + only_a) / n, (both + only_b) / n
    observed = (both + neither) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    kappa = np.divide(
        observed - expected, 1 - expected, out=np.full_like(both, np.nan), where=expected < 1
    )
    return jaccard, kappa


def flagged_overlap(
    flags_a: ArrayLike,
    flags_b: ArrayLike,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Overlap of two flagged sets on the same rows, with bootstrap intervals.

    Returns
    -------
    dict
        jaccard (1.0 when neither flags anything) and kappa (Cohen's, None when both
        flag all or nothing), each ``{"value", "low", "high"}``; rows, flagged_a,
        flagged_b, flagged_both, only_a, only_b.
    """
    fa = np.asarray(flags_a).astype(bool).ravel()
    fb = np.asarray(flags_b).astype(bool).ravel()
    if len(fa) != len(fb):
        raise ValueError("both results must cover the same rows")
    level, n_boot = _level(level), _n_boot(n_boot)
    n = len(fa)
    cells = np.array(
        [(fa & fb).sum(), (fa & ~fb).sum(), (~fa & fb).sum(), (~fa & ~fb).sum()], dtype=np.int64
    )
    out: dict[str, Any] = {
        "rows": n,
        "flagged_a": int(fa.sum()),
        "flagged_b": int(fb.sum()),
        "flagged_both": int(cells[0]),
        "only_a": int(cells[1]),
        "only_b": int(cells[2]),
    }
    if n == 0:
        out["jaccard"] = {"value": 1.0, "low": None, "high": None}
        out["kappa"] = {"value": None, "low": None, "high": None}
        return out
    point = _jaccard_kappa(*(cells[i : i + 1].astype(np.float64) for i in range(4)))
    rng = np.random.default_rng(seed)
    # Resampling rows = a multinomial draw over the four cells of the 2 × 2 table.
    draws = rng.multinomial(n, cells / n, size=n_boot).astype(np.float64)
    boot = _jaccard_kappa(draws[:, 0], draws[:, 1], draws[:, 2], draws[:, 3])
    for name, value, samples in zip(("jaccard", "kappa"), point, boot, strict=True):
        v = float(value[0])
        finite = samples[np.isfinite(samples)]
        if not np.isfinite(v) or not len(finite):
            out[name] = {"value": None if not np.isfinite(v) else v, "low": None, "high": None}
        else:
            low, high = percentile(finite, level)
            out[name] = {"value": v, "low": low, "high": high}
    return out


# ---------------------------------------------------------------- the whole comparison
def format_p(p: float) -> str:
    """``p = 0.003`` / ``p < 0.001`` as a sentence shows it."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _verdict(
    metric: str, name_a: str, name_b: str, va: float, vb: float, p: float, alpha: float
) -> str:
    if p < alpha and vb != va:
        better, worse = (name_b, name_a) if vb > va else (name_a, name_b)
        hi, lo = max(va, vb), min(va, vb)
        return f"{better} is better than {worse} on {metric} ({hi:.2f} vs {lo:.2f}, {format_p(p)})."
    return (
        f"No significant difference between {name_a} and {name_b} on {metric} "
        f"({va:.2f} vs {vb:.2f}, {format_p(p)})."
    )


def _agreement_sentence(
    name_a: str, name_b: str, ranks: dict[str, Any], overlap: dict[str, Any]
) -> str:
    rho = ranks["spearman"]
    jac = overlap["jaccard"]
    parts = []
    if rho["value"] is None and ranks["rows"] < 5:
        parts.append(f"cannot be compared by rank ({ranks['rows']} rows in common)")
    elif rho["value"] is None:
        parts.append("cannot be compared by rank (one gives every row the same score)")
    else:
        value = rho["value"]
        strength = next(
            word
            for floor, word in ((0.9, "very similarly"), (0.7, "similarly"),
                                (0.4, "somewhat alike"), (-1.1, "differently"))
            if value >= floor
        )  # fmt: skip
        ci = f", {rho['low']:.2f}–{rho['high']:.2f}" if rho["low"] is not None else ""
        parts.append(f"rank the rows {strength} (Spearman {value:.2f}{ci})")
    both, either = (
        overlap["flagged_both"],
        overlap["flagged_both"] + overlap["only_a"] + overlap["only_b"],
    )
    if either == 0:
        parts.append("flag no row at all")
    else:
        ci = f", {jac['low']:.2f}–{jac['high']:.2f}" if jac["low"] is not None else ""
        parts.append(
            f"{both:,} of the {either:,} rows flagged by either are flagged by both "
            f"(Jaccard {jac['value']:.2f}{ci})"
        )
    return f"{name_a} and {name_b} " + " and ".join(parts) + "."


def compare_runs(
    truth: ArrayLike | None,
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    flags_a: ArrayLike,
    flags_b: ArrayLike,
    names: Sequence[str] = ("A", "B"),
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything a comparison of two results on the same rows shows.

    Parameters
    ----------
    truth : array-like or None
        Per row 1 (anomaly), 0 (normal) or NaN (unknown: a partial label column, analyst
        verdicts); the labelled statistics use the known rows. None: no labels.
    scores_a, scores_b, flags_a, flags_b : array-like
        Both results on the same rows, in the same order.
    names : (str, str)
        How the sentence names the two results.
    level, n_boot, seed
        As :func:`roc_auc_ci`.

    Returns
    -------
    dict
        names, rows, level, n_boot, labelled (bool), labelled_rows, anomalies;
        rank_agreement and overlap (always); with labels roc_auc and average_precision,
        each ``{"a": interval, "b": interval, "test": {..., "method", "p_value"}}``;
        sentence (the headline), sentences (every finding), note (why labels went unused).
    """
    a, b = _scores(scores_a, "scores_a"), _scores(scores_b, "scores_b")
    fa = np.asarray(flags_a).astype(bool).ravel()
    fb = np.asarray(flags_b).astype(bool).ravel()
    if not len(a) == len(b) == len(fa) == len(fb):
        raise ValueError("both results must cover the same rows")
    name_a, name_b = (str(x) for x in names)
    level, n_boot = _level(level), _n_boot(n_boot)
    alpha = 1 - level
    out: dict[str, Any] = {
        "names": [name_a, name_b],
        "rows": len(a),
        "level": level,
        "n_boot": n_boot,
        "labelled": False,
        "labelled_rows": 0,
        "anomalies": 0,
    }
    out["rank_agreement"] = rank_agreement(a, b, level=level, n_boot=n_boot, seed=seed)
    out["overlap"] = flagged_overlap(fa, fb, level=level, n_boot=n_boot, seed=seed)
    agreement = _agreement_sentence(name_a, name_b, out["rank_agreement"], out["overlap"])
    sentences: list[str] = []
    if truth is not None:
        t = np.asarray(truth, dtype=np.float64).ravel()
        if len(t) != len(a):
            raise ValueError("truth and scores must have the same length")
        known = np.isfinite(t)
        y = t[known]
        out["labelled_rows"] = int(known.sum())
        out["anomalies"] = int((y != 0).sum())
        y = (y != 0).astype(np.float64)
        if out["anomalies"] == 0 or out["anomalies"] == out["labelled_rows"]:
            kind = "anomalies" if out["anomalies"] else "normal rows"
            out["note"] = (
                f"The labels hold only {kind}, so ROC-AUC and average precision are undefined."
                if out["labelled_rows"]
                else "No row is labelled."
            )
        else:
            out["labelled"] = True
            ak, bk = a[known], b[known]
            delong = delong_test(y, ak, bk, level=level)
            paired = _paired(y.astype(bool), ak, bk, level, n_boot, seed)
            auc, ap = paired["roc_auc"], paired["ap"]
            out["roc_auc"] = {
                "a": auc["a"],
                "b": auc["b"],
                "test": {**delong, "method": "DeLong", "p_text": format_p(delong["p_value"])},
                "bootstrap": {k: auc[k] for k in ("diff", "low", "high", "p_value")},
            }
            out["average_precision"] = {
                "a": ap["a"],
                "b": ap["b"],
                "test": {
                    "method": "paired bootstrap",
                    **{k: ap[k] for k in ("value_a", "value_b", "diff", "low", "high", "p_value")},
                    "p_text": format_p(ap["p_value"]),
                },
            }
            sentences.append(
                _verdict(
                    "ROC-AUC",
                    name_a,
                    name_b,
                    delong["auc_a"],
                    delong["auc_b"],
                    delong["p_value"],
                    alpha,
                )
            )
            sentences.append(
                _verdict(
                    "average precision",
                    name_a,
                    name_b,
                    ap["value_a"],
                    ap["value_b"],
                    ap["p_value"],
                    alpha,
                )
            )
    sentences.append(agreement)
    out["sentence"] = sentences[0]
    out["sentences"] = sentences
    return out


def leaderboard(
    truth: ArrayLike | None,
    scores: Sequence[ArrayLike],
    names: Sequence[str],
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Rank several results on the same rows.

    With labels: ROC-AUC and AP with intervals per result, ranked by ROC-AUC, each tested
    against the best (DeLong for ROC-AUC, paired bootstrap for AP). Without: each result's
    Spearman agreement (with interval) with the consensus, the mean of the results'
    rank-normalised scores, ranked by it.

    Returns
    -------
    dict
        labelled, rows, level, n_boot, entries (``[{"index", "name", "rank", ...}]`` best
        first), best (index), note.
    """
    vectors = [_scores(s, f"scores[{i}]") for i, s in enumerate(scores)]
    if len(vectors) != len(names):
        raise ValueError("one name per result")
    if not vectors:
        return {
            "labelled": False,
            "rows": 0,
            "entries": [],
            "best": None,
            "level": level,
            "n_boot": n_boot,
        }
    n = len(vectors[0])
    if any(len(v) != n for v in vectors):
        raise ValueError("every result must cover the same rows")
    level, n_boot = _level(level), _n_boot(n_boot)
    out: dict[str, Any] = {"rows": n, "level": level, "n_boot": n_boot, "labelled": False}
    y = None
    if truth is not None:
        t = np.asarray(truth, dtype=np.float64).ravel()
        if len(t) != n:
            raise ValueError("truth and scores must have the same length")
        known = np.isfinite(t)
        yk = t[known] != 0
        if 0 < yk.sum() < len(yk):
            y = yk
            vectors_known = [v[known] for v in vectors]
            out["labelled_rows"] = int(known.sum())
        else:
            out["note"] = "The labels hold one class only: results ranked by agreement instead."
    entries: list[dict[str, Any]] = []
    if y is not None:
        out["labelled"] = True
        rankings = [Ranking(v) for v in vectors_known]
        aucs, aps = labelled_bootstrap(y, vectors_known, n_boot, seed)
        points = [point(y, r) for r in rankings]
        best = int(np.argmax([p[0] for p in points]))
        for i, name in enumerate(names):
            auc_lo, auc_hi = percentile(aucs[i], level)
            ap_lo, ap_hi = percentile(aps[i], level)
            entry: dict[str, Any] = {
                "index": i,
                "name": str(name),
                "roc_auc": {"value": points[i][0], "low": auc_lo, "high": auc_hi},
                "average_precision": {"value": points[i][1], "low": ap_lo, "high": ap_hi},
            }
            if i != best:
                d = delong_test(y, vectors_known[best], vectors_known[i])
                diffs = aps[i] - aps[best]
                ap_p = bootstrap_p(diffs)
                entry["vs_best"] = {
                    "roc_auc_diff": d["diff"],
                    "roc_auc_p": d["p_value"],
                    "roc_auc_p_text": format_p(d["p_value"]),
                    "roc_auc_significant": d["p_value"] < 1 - level,
                    "ap_diff": points[i][1] - points[best][1],
                    "ap_p": ap_p,
                    "ap_p_text": format_p(ap_p),
                    "ap_significant": ap_p < 1 - level,
                }
            entries.append(entry)
        entries.sort(key=lambda e: -e["roc_auc"]["value"])
    else:
        ranks = np.vstack([midranks(v) / max(n, 1) for v in vectors])
        consensus = ranks.mean(axis=0)
        best = None
        for i, name in enumerate(names):
            agree = rank_agreement(vectors[i], consensus, level=level, n_boot=n_boot, seed=seed)
            entries.append({"index": i, "name": str(name), "consensus_spearman": agree["spearman"]})

        def key(e: dict[str, Any]) -> float:
            value = e["consensus_spearman"]["value"]
            return -(value if value is not None else -2.0)

        entries.sort(key=key)
        best = entries[0]["index"]
    for rank, entry in enumerate(entries, start=1):
        entry["rank"] = rank
    out["entries"] = entries
    out["best"] = best
    return out


def subsample(n: int, cap: int, *, truth: ArrayLike | None = None, seed: int = 0) -> np.ndarray:
    """Positions of at most ``cap`` of ``n`` rows, for statistics that must stay quick.

    All rows when ``n <= cap``. Otherwise a seeded uniform sample, stratified by ``truth``
    when given (anomalies, normals and unknown rows keep their shares, so average precision,
    which depends on the share of anomalies, is not biased). Intervals from a sample are
    wider than from every row: conservative, never too narrow.

    Returns
    -------
    numpy.ndarray
        Sorted positions.
    """
    if n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if truth is None:
        return np.sort(rng.choice(n, size=cap, replace=False))
    t = np.asarray(truth, dtype=np.float64).ravel()
    strata = np.where(np.isnan(t), 2, np.where(np.nan_to_num(t) != 0, 1, 0))
    picked = []
    for k in (0, 1, 2):
        members = np.flatnonzero(strata == k)
        take = int(round(len(members) * cap / n))
        if k == 1 and len(members):
            take = max(take, 1)  # a rare class must not vanish from the sample
        picked.append(rng.choice(members, size=min(take, len(members)), replace=False))
    return np.sort(np.concatenate(picked))
