"""Confidence intervals and paired tests for comparing results, against reference computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kendalltau, norm, spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score

from pynomaly import resample, stats


def _data(n=600, share=0.08, lift_a=1.0, lift_b=1.6, seed=0, rounding=None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < share).astype(int)
    a = rng.normal(size=n) + lift_a * y
    b = rng.normal(size=n) + lift_b * y
    if rounding is not None:  # ties, as detectors with discrete scores (HBOS) give
        a, b = np.round(a, rounding), np.round(b, rounding)
    return y, a, b


def _delong_by_definition(y, a, b):
    """DeLong et al. (1988) from the pairwise kernel, O(m·n): the reference."""
    y = np.asarray(y).astype(bool)
    comps = []
    for s in (a, b):
        x, z = s[y][:, None], s[~y][None, :]
        psi = (x > z) + 0.5 * (x == z)
        comps.append((psi.mean(axis=1), psi.mean(axis=0), psi.mean()))
    m, n = y.sum(), (~y).sum()
    s10 = np.cov(np.vstack([comps[0][0], comps[1][0]]))
    s01 = np.cov(np.vstack([comps[0][1], comps[1][1]]))
    cov = s10 / m + s01 / n
    diff = comps[1][2] - comps[0][2]
    z = diff / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return comps[0][2], comps[1][2], z, 2 * norm.sf(abs(z))


def _loop_bootstrap(y, s, n_boot, seed):
    """A plain stratified bootstrap, one sample at a time: the reference for the intervals."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y), np.flatnonzero(1 - y)
    aucs, aps = [], []
    for _ in range(n_boot):
        idx = np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]
        aucs.append(roc_auc_score(y[idx], s[idx]))
        aps.append(average_precision_score(y[idx], s[idx]))
    return np.quantile(aucs, [0.025, 0.975]), np.quantile(aps, [0.025, 0.975])


@pytest.mark.parametrize("rounding", [None, 1])
def test_the_point_estimates_are_scikit_learns(rounding):
    y, a, _ = _data(rounding=rounding)

    auc = stats.roc_auc_ci(y, a, n_boot=50)
    ap = stats.average_precision_ci(y, a, n_boot=50)

    assert auc["value"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert ap["value"] == pytest.approx(average_precision_score(y, a), abs=1e-12)
    assert auc["low"] < auc["value"] < auc["high"]
    assert ap["low"] < ap["value"] < ap["high"]


@pytest.mark.parametrize("rounding", [None, 1])
def test_the_intervals_match_a_plain_bootstrap(rounding):
    y, a, _ = _data(n=300, share=0.1, rounding=rounding, seed=3)

    auc = stats.roc_auc_ci(y, a, n_boot=2000, seed=1)
    ap = stats.average_precision_ci(y, a, n_boot=2000, seed=1)
    (auc_lo, auc_hi), (ap_lo, ap_hi) = _loop_bootstrap(y, a, 400, seed=2)

    # Two Monte Carlo estimates of the same quantiles: equal up to simulation noise.
    assert auc["low"] == pytest.approx(auc_lo, abs=0.025)
    assert auc["high"] == pytest.approx(auc_hi, abs=0.025)
    assert ap["low"] == pytest.approx(ap_lo, abs=0.05)
    assert ap["high"] == pytest.approx(ap_hi, abs=0.05)


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    y, a, _ = _data()

    first = stats.roc_auc_ci(y, a, n_boot=200, seed=7)

    assert stats.roc_auc_ci(y, a, n_boot=200, seed=7) == first
    assert stats.roc_auc_ci(y, a, n_boot=200, seed=8) != first


def test_the_roc_auc_interval_covers_the_true_auc_about_95_times_in_100():
    # Binormal model: anomalies' scores shifted by d, so the population AUC is Phi(d / sqrt 2).
    d = 1.0
    true_auc = norm.cdf(d / math.sqrt(2))
    covered = 0
    trials = 200
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        y = np.r_[np.ones(40, dtype=int), np.zeros(260, dtype=int)]
        s = rng.normal(size=300) + d * y
        ci = stats.roc_auc_ci(y, s, n_boot=300, seed=seed)
        covered += ci["low"] <= true_auc <= ci["high"]

    assert 0.88 <= covered / trials <= 0.99


@pytest.mark.parametrize("rounding", [None, 1])
def test_delong_agrees_with_the_definition(rounding):
    y, a, b = _data(n=500, rounding=rounding, seed=5)

    result = stats.delong_test(y, a, b)
    auc_a, auc_b, z, p = _delong_by_definition(y, a, b)

    assert result["auc_a"] == pytest.approx(auc_a, abs=1e-12)
    assert result["auc_b"] == pytest.approx(auc_b, abs=1e-12)
    assert result["auc_a"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result["diff"] == pytest.approx(auc_b - auc_a, abs=1e-12)
    assert result["z"] == pytest.approx(z, rel=1e-9)
    assert result["p_value"] == pytest.approx(p, rel=1e-9)


def test_delong_rejects_rarely_when_both_results_are_equally_good():
    rejections = 0
    trials = 200
    for seed in range(trials):
        y, a, b = _data(n=300, share=0.15, lift_a=1.0, lift_b=1.0, seed=seed)
        rejections += stats.delong_test(y, a, b)["p_value"] < 0.05

    assert rejections / trials <= 0.10


def test_identical_results_differ_by_nothing():
    y, a, _ = _data()

    assert stats.delong_test(y, a, a)["p_value"] == 1.0
    paired = stats.paired_bootstrap(y, a, a, metric="ap", n_boot=200)
    assert paired["diff"] == 0.0 and paired["p_value"] == 1.0
    assert paired["low"] == paired["high"] == 0.0


def test_the_paired_bootstrap_finds_a_clearly_better_result():
    y, a, b = _data(n=800, lift_a=0.5, lift_b=2.5)

    for metric in ("ap", "roc_auc"):
        result = stats.paired_bootstrap(y, a, b, metric=metric, n_boot=500)
        assert result["diff"] > 0 and result["low"] > 0
        assert result["p_value"] < 0.01
        assert result["b"]["low"] <= result["value_b"] <= result["b"]["high"]

    swapped = stats.paired_bootstrap(y, b, a, metric="ap", n_boot=500)
    assert swapped["diff"] < 0 and swapped["high"] < 0


def test_labels_of_one_class_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="only normal rows"):
        stats.roc_auc_ci(np.zeros(5), np.arange(5.0))
    with pytest.raises(ValueError, match="same length"):
        stats.delong_test([0, 1], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="missing or infinite"):
        stats.average_precision_ci([0, 1, 0], [0.1, np.inf, 0.2])


@pytest.mark.parametrize("rounding", [None, 1])
def test_rank_agreement_reports_scipys_correlations_with_intervals(rounding):
    _, a, b = _data(n=500, rounding=rounding)
    b = a + 0.8 * b  # correlated

    result = stats.rank_agreement(a, b, n_boot=1000, seed=1)

    rho, tau = result["spearman"], result["kendall"]
    assert rho["value"] == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert tau["value"] == pytest.approx(kendalltau(a, b).statistic, abs=1e-12)
    assert rho["low"] < rho["value"] < rho["high"]
    assert tau["low"] < tau["value"] < tau["high"]
    # The vectorised bootstrap against resampling the rows one sample at a time.
    rng = np.random.default_rng(9)
    loop = []
    for _ in range(300):
        idx = rng.integers(0, len(a), len(a))
        loop.append(spearmanr(a[idx], b[idx]).statistic)
    lo, hi = np.quantile(loop, [0.025, 0.975])
    assert rho["low"] == pytest.approx(lo, abs=0.02)
    assert rho["high"] == pytest.approx(hi, abs=0.02)


def test_rank_agreement_of_a_constant_result_is_undefined():
    result = stats.rank_agreement(np.ones(20), np.arange(20.0))

    assert result["spearman"]["value"] is None and result["kendall"]["value"] is None


def test_flagged_overlap_counts_and_bounds_the_jaccard_index():
    fa = np.r_[np.ones(30), np.zeros(970)].astype(bool)
    fb = np.r_[np.zeros(10), np.ones(30), np.zeros(960)].astype(bool)

    result = stats.flagged_overlap(fa, fb, n_boot=500)

    assert (result["flagged_a"], result["flagged_b"], result["flagged_both"]) == (30, 30, 20)
    assert (result["only_a"], result["only_b"]) == (10, 10)
    jac = result["jaccard"]
    assert jac["value"] == pytest.approx(20 / 40)
    assert 0.3 < jac["low"] < 0.5 < jac["high"] < 0.7
    assert result["kappa"]["low"] < result["kappa"]["value"] < result["kappa"]["high"]


def test_no_flags_on_either_side_overlap_completely():
    result = stats.flagged_overlap(np.zeros(10), np.zeros(10))

    assert result["jaccard"]["value"] == 1.0
    assert result["kappa"]["value"] is None


def test_the_comparison_names_the_better_result_with_its_p_value():
    y, a, b = _data(n=800, lift_a=0.5, lift_b=2.5)

    result = stats.compare_runs(y, a, b, a > 1.5, b > 1.5, ("Run #1", "Run #2"), n_boot=300)

    assert result["labelled"] is True
    assert result["sentence"].startswith("Run #2 is better than Run #1 on ROC-AUC (")
    assert "p < 0.001" in result["sentence"]
    assert result["roc_auc"]["test"]["method"] == "DeLong"
    assert result["average_precision"]["test"]["method"] == "paired bootstrap"
    assert result["roc_auc"]["b"]["low"] < result["roc_auc"]["b"]["value"]
    assert "better than" in result["sentences"][1] and "average precision" in result["sentences"][1]


def test_equally_good_results_are_reported_as_no_significant_difference():
    y, a, b = _data(n=400, lift_a=1.0, lift_b=1.0, seed=11)

    result = stats.compare_runs(y, a, b, a > 1.5, b > 1.5, n_boot=300)

    p = result["roc_auc"]["test"]["p_value"]
    assert p >= 0.05
    assert result["sentence"].startswith("No significant difference between A and B on ROC-AUC")
    assert f"p = {p:.2g}" in result["sentence"]


def test_without_labels_the_comparison_is_about_agreement():
    _, a, b = _data()

    result = stats.compare_runs(None, a, a + 0.1 * b, a > 1.5, a > 1.6, n_boot=200)

    assert result["labelled"] is False and "roc_auc" not in result
    assert result["sentence"].startswith("A and B rank the rows very similarly (Spearman 0.99")
    assert "Jaccard" in result["sentence"]


def test_unknown_labels_are_left_out_and_one_class_labels_are_explained():
    y, a, b = _data(n=800, lift_a=0.5, lift_b=2.5)
    partial = y.astype(float)
    partial[::2] = np.nan

    result = stats.compare_runs(partial, a, b, a > 1.5, b > 1.5, n_boot=200)
    assert result["labelled_rows"] == 400
    assert result["roc_auc"]["test"]["auc_b"] == pytest.approx(
        roc_auc_score(y[1::2], b[1::2]), abs=1e-12
    )

    only_normal = np.where(y == 1, np.nan, 0.0)
    result = stats.compare_runs(only_normal, a, b, a > 1.5, b > 1.5, n_boot=50)
    assert result["labelled"] is False
    assert "only normal rows" in result["note"]


def test_the_leaderboard_ranks_by_roc_auc_and_tests_each_against_the_best():
    y, a, b = _data(n=800, lift_a=0.5, lift_b=2.5)
    c = b + np.random.default_rng(1).normal(size=len(b)) * 0.05  # as good as b

    board = stats.leaderboard(y, [a, b, c], ["weak", "strong", "twin"], n_boot=300)

    names = [e["name"] for e in board["entries"]]
    assert names[-1] == "weak" and board["entries"][-1]["rank"] == 3
    assert board["entries"][-1]["vs_best"]["roc_auc_p"] < 0.001
    second = board["entries"][1]
    assert second["name"] in ("strong", "twin") and second["vs_best"]["roc_auc_p"] > 0.05
    assert "vs_best" not in board["entries"][0]


def test_without_labels_the_leaderboard_ranks_by_agreement_with_the_consensus():
    _, a, b = _data()
    rng = np.random.default_rng(4)
    noise = rng.normal(size=len(a))

    board = stats.leaderboard(None, [a, a + 0.2 * b, noise], ["one", "two", "noise"], n_boot=200)

    assert board["labelled"] is False
    assert board["entries"][-1]["name"] == "noise"
    assert board["entries"][0]["consensus_spearman"]["low"] is not None


@pytest.mark.parametrize("rounding", [None, 1])
def test_grouping_the_negatives_into_cells_loses_nothing(rounding):
    # The bootstrap draws negatives per cell; the metrics of the cells weighted by their
    # sizes must be the metrics of all rows, for both results at once.
    y, a, b = _data(n=500, share=0.03, rounding=rounding, seed=2)
    truth = y.astype(bool)
    reps, sizes, _ = resample.negative_cells(truth, [a, b])
    pos = np.flatnonzero(truth)
    assert len(reps) < (~truth).sum()  # few positives: far fewer cells than negatives
    yy = np.r_[np.ones(len(pos)), np.zeros(len(reps))]
    weights = np.r_[np.ones(len(pos)), sizes]
    for s in (a, b):
        reduced = s[np.r_[pos, reps]]
        assert roc_auc_score(yy, reduced, sample_weight=weights) == pytest.approx(
            roc_auc_score(y, s), abs=1e-12
        )
        assert average_precision_score(yy, reduced, sample_weight=weights) == pytest.approx(
            average_precision_score(y, s), abs=1e-12
        )


def test_a_subsample_keeps_the_share_of_anomalies_and_every_row_when_small():
    truth = np.r_[np.ones(30), np.zeros(9_970)]

    pos = stats.subsample(10_000, 1_000, truth=truth, seed=1)

    assert len(pos) == 1_000 and np.all(np.diff(pos) > 0)
    assert truth[pos].sum() == 3
    assert np.array_equal(stats.subsample(500, 1_000), np.arange(500))


def test_delongs_interval_of_the_difference_excludes_zero_exactly_when_p_is_below_alpha():
    for seed in range(30):
        y, a, b = _data(n=300, share=0.15, lift_a=1.0, lift_b=1.4, seed=seed)
        d = stats.delong_test(y, a, b)
        assert d["low"] <= d["diff"] <= d["high"]
        assert (d["low"] > 0 or d["high"] < 0) == (d["p_value"] < 0.05)


def test_the_agreement_sentence_reads_well_when_a_result_is_constant_or_flags_nothing():
    result = stats.compare_runs(None, np.ones(50), np.arange(50.0), np.zeros(50), np.zeros(50))

    assert result["sentence"] == (
        "A and B cannot be compared by rank (one gives every row the same score)"
        " and flag no row at all."
    )
