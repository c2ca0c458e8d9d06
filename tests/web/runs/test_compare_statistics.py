"""The comparison page judges two runs with statistics: intervals, a paired test, a sentence."""

from __future__ import annotations

import numpy as np
from django.urls import reverse

from apps.runs import comparison

from .test_results_fixtures import make_run, make_version, results_env  # noqa: F401


def _labelled_pair(tenant, *, n=400, lift_b=3.0, label_column="y"):
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.1).astype(int)
    version = make_version(tenant, {"x": rng.normal(size=n), "y": y})
    weak = rng.normal(size=n) + 0.3 * y
    strong = rng.normal(size=n) + lift_b * y
    a = make_run(tenant, version, weak, threshold=1.5, label_column=label_column)
    b = make_run(tenant, version, strong, threshold=1.5, label_column=label_column)
    return a, b


def _page(client, tenant, a, b):
    url = reverse("runs:compare", kwargs={"tenant_slug": tenant.slug})
    return client.get(url, {"a": a.pk, "b": b.pk})


def test_with_labels_the_page_names_the_better_run_with_intervals_and_a_p_value(
    alice_client, tenant_a
):
    a, b = _labelled_pair(tenant_a)

    response = _page(alice_client, tenant_a, a, b)

    assert response.status_code == 200
    html = response.content.decode()
    sentence = html[html.index('id="compare-sentence">') :].split("<", 1)[0]
    assert f"B (#{b.pk}) is better than A (#{a.pk}) on ROC-AUC" in sentence
    assert "p &lt; 0.001" in sentence
    row = html[html.index('id="compare-roc-auc"') :].split("</tr>", 1)[0]
    assert "DeLong" in row and row.count("[") == 3  # A, B and the difference with intervals
    assert "paired bootstrap" in html[html.index('id="compare-ap"') :].split("</tr>", 1)[0]
    assert "the label column “y”" in html


def test_without_labels_the_page_shows_agreement_with_intervals(alice_client, tenant_a):
    a, b = _labelled_pair(tenant_a, label_column="")

    html = _page(alice_client, tenant_a, a, b).content.decode()

    assert 'id="compare-tests"' not in html
    assert "No labels on this data" in html
    spearman = html[html.index('id="compare-spearman-ci"') :].split("</dd>", 1)[0]
    assert "[" in spearman and "–" in spearman
    sentence = html[html.index('id="compare-sentence">') :].split("<", 1)[0]
    assert sentence.startswith(f'id="compare-sentence">A (#{a.pk}) and B (#{b.pk}) rank the rows')


def test_big_runs_are_compared_on_a_stated_sample(alice_client, tenant_a, monkeypatch):
    monkeypatch.setattr(comparison, "STAT_ROWS", 150)
    a, b = _labelled_pair(tenant_a)

    html = _page(alice_client, tenant_a, a, b).content.decode()

    assert "a seeded random sample of 150 of the 400 rows (stratified by label)" in html


def test_the_labels_come_from_the_runs_label_column_with_unknowns_left_out(tenant_a):
    version = make_version(tenant_a, {"x": np.arange(4.0), "y": [1.0, 0.0, np.nan, 2.0]})
    a = make_run(tenant_a, version, np.arange(4.0), threshold=2, label_column="y")
    b = make_run(tenant_a, version, np.arange(4.0), threshold=2)

    truth = comparison.comparison_truth(b, a)

    assert truth is not None and truth.source == "the label column “y”"
    np.testing.assert_array_equal(truth.values, [1.0, 0.0, np.nan, 1.0])
    assert comparison.comparison_truth(b, b) is None


def test_rows_without_a_finite_score_are_left_out_and_said_so(alice_client, tenant_a):
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.1).astype(int)
    version = make_version(tenant_a, {"x": rng.normal(size=200), "y": y})
    broken = rng.normal(size=200) + y
    broken[:3] = np.nan
    a = make_run(tenant_a, version, broken, threshold=1.5, label_column="y")
    b = make_run(tenant_a, version, rng.normal(size=200) + 2 * y, threshold=1.5, label_column="y")

    response = _page(alice_client, tenant_a, a, b)

    assert response.status_code == 200
    assert "leaving out 3 rows without a finite score" in response.content.decode()
