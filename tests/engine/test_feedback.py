"""Verdicts as labels in the engine: the held-out rule, metrics on verdicts, the F1 threshold."""

from __future__ import annotations

import numpy as np

from pynomaly import feedback as F


def test_the_held_out_rule_depends_on_the_row_and_salt_only_and_keeps_about_the_fraction():
    rows = np.arange(5000)
    a = F.held_out(rows, "abc")
    assert np.array_equal(a, F.held_out(rows[::-1], "abc")[::-1])  # order does not matter
    assert 0.27 < a.mean() < 0.33
    assert not np.array_equal(a, F.held_out(rows, "other"))


def test_verdict_metrics_align_rows_by_id_not_by_position():
    ids = np.array([4, 3, 2, 1, 0])  # results stored in another order than the rows
    scores = np.array([0.9, 0.8, 0.1, 0.2, 0.3])
    m = F.verdict_metrics({4: 1, 3: 1, 0: 0, 1: 0}, ids, scores, threshold=0.5)
    assert m["rows"] == 4 and m["anomalies"] == 2
    assert m["roc_auc"] == 1.0 and m["f1"] == 1.0


def test_verdicts_of_one_kind_give_no_ranking_metric_but_say_why():
    m = F.verdict_metrics({0: 1}, np.arange(3), np.array([0.5, 0.1, 0.2]), 0.4)
    assert m["roc_auc"] is None and "only anomalies" in m["note"]


def test_the_learned_threshold_separates_the_verdicts_best():
    ids = np.arange(8)
    scores = np.array([0.1, 0.2, 0.3, 0.35, 0.6, 0.7, 0.8, 0.9])
    labels = {0: 0, 1: 0, 2: 0, 3: 0, 5: 1, 6: 1, 7: 1}  # row 4 has no verdict
    choice = F.best_f1_threshold(labels, ids, scores)
    assert choice.f1 == 1.0 and 0.35 < choice.threshold < 0.7
    assert F.best_f1_threshold({0: 0, 1: 0}, ids, scores) is None


def test_the_held_out_comparison_prefers_the_run_that_ranks_verdicted_anomalies_higher():
    rng = np.random.default_rng(0)
    n = 200
    truth = (np.arange(n) % 10 == 0).astype(int)
    ids = np.arange(n)
    labels = {int(r): int(truth[r]) for r in ids}
    better = (ids, truth + 0.3 * rng.random(n), 0.5)  # separates the verdicts
    worse = (ids, rng.random(n), 0.5)  # noise
    out = F.compare_on_held_out(labels, better, worse, names=("run #1", "run #2"))
    assert out["rows"] == n and out["anomalies"] == 20
    assert out["child"]["roc_auc"] == 1.0 and out["delta"]["roc_auc"] > 0.3
    low, high = out["parent"]["roc_auc_ci"]
    assert low < out["parent"]["roc_auc"] < high
    assert out["p_value"]["roc_auc"] < 0.001 and out["delta_ci"]["roc_auc"][0] > 0
    assert out["sentence"].startswith("run #2 is better than run #1 on ROC-AUC")
    assert "note" in F.compare_on_held_out({0: 1}, better, worse)


def test_verdicts_become_a_partial_label_column_that_overrides_the_data():
    base = np.array([np.nan, 1.0, 0.0, np.nan])
    out = F.labels_array({0: 1, 2: 1, 9: 0}, 4, base)
    assert out[0] == 1 and out[1] == 1 and out[2] == 1 and np.isnan(out[3])
    assert np.isnan(F.labels_array({}, 3)).all()
