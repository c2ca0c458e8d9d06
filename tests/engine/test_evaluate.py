"""Metrics against known labels, and agreement between two results."""

from __future__ import annotations

import numpy as np
import pytest

from pynomaly.evaluate import compare, evaluate


def test_a_perfect_ranking_scores_one_everywhere():
    y = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.8])

    result = evaluate(y, scores, labels=y)

    assert result["roc_auc"] == 1.0
    assert result["average_precision"] == 1.0
    assert result["precision_at_k"] == 1.0 and result["k"] == 2
    assert result["f1"] == 1.0
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (2, 0, 3, 0)


def test_counts_and_rates_follow_the_confusion_matrix():
    y = np.array([1, 1, 0, 0, 0, 0])
    labels = np.array([1, 0, 1, 0, 0, 0])
    scores = np.arange(6, dtype=float)[::-1]

    result = evaluate(y, scores, labels, k=3)

    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (1, 1, 3, 1)
    assert result["precision"] == 0.5 and result["recall"] == 0.5
    assert result["precision_at_k"] == pytest.approx(2 / 3)


def test_labels_of_one_class_give_no_auc_and_a_note_instead_of_crashing():
    result = evaluate(np.zeros(4), np.arange(4.0), np.zeros(4))

    assert result["roc_auc"] is None
    assert "only normal rows" in result["note"]
    assert result["precision_at_k"] is None


def test_compare_measures_rank_agreement_and_overlap():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    la = np.array([0, 0, 1, 1])
    lb = np.array([0, 1, 1, 0])

    result = compare(a, la, a * 10, lb)

    assert result["spearman"] == pytest.approx(1.0)
    assert (result["flagged_a"], result["flagged_b"], result["flagged_both"]) == (2, 2, 1)
    assert result["jaccard"] == pytest.approx(1 / 3)


def test_compare_with_a_constant_score_has_no_correlation():
    result = compare(np.ones(3), np.zeros(3), np.arange(3.0), np.zeros(3))

    assert result["spearman"] is None
    assert result["jaccard"] == 1.0
