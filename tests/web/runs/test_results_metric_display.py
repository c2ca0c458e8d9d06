from apps.runs.report import metric_rows


def test_counts_show_as_whole_numbers_and_scores_with_three_digits():
    rows = {
        r["key"]: r["shown"][0]
        for r in metric_rows({"roc_auc": 0.95512, "tn": 4796, "tp": 96, "f1": 0.64})
    }
    assert rows == {"roc_auc": "0.955", "tn": "4,796", "tp": "96", "f1": "0.64"}


def test_a_metric_one_run_lacks_shows_a_dash():
    (row,) = metric_rows({"roc_auc": 0.9}, {"roc_auc": None})
    assert row["shown"] == ["0.9", "—"]
