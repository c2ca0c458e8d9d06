"""Comparing two runs on the same data: rank correlation, overlap of flagged rows, metrics."""

from __future__ import annotations

import numpy as np
from django.urls import reverse

from .test_results_fixtures import make_run, make_version, results_env, small_run  # noqa: F401


def _compare(client, tenant, a, b):
    return client.get(
        reverse("runs:compare", kwargs={"tenant_slug": tenant.slug}), {"a": a, "b": b}
    )


def _two_runs(tenant, scores_b=None, threshold_b=0.9, **kwargs):
    version = make_version(tenant, {"x": np.arange(100.0), "y": np.ones(100)})
    scores = np.arange(100) / 100
    a = make_run(tenant, version, scores, threshold=0.9, **kwargs)
    b = make_run(
        tenant, version, scores if scores_b is None else scores_b, threshold=threshold_b, **kwargs
    )
    return a, b


def test_identical_scores_correlate_perfectly_and_overlap_fully(vera_client, tenant_a):
    a, b = _two_runs(tenant_a)
    response = _compare(vera_client, tenant_a, a.pk, b.pk)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="compare-spearman">1.000<' in html
    assert (
        'id="compare-both">9<' in html
        and 'id="compare-only-a">0<' in html
        and 'id="compare-only-b">0<' in html
    )
    assert 'id="compare-jaccard">1.000<' in html
    from .test_results_fixtures import figure_in

    scatter = figure_in(vera_client, html, "chart-compare")
    assert [t["name"] for t in scatter["data"]][0] == "flagged by both (9)"


def test_the_overlap_counts_rows_flagged_by_both_and_by_one(alice_client, tenant_a):
    a, b = _two_runs(tenant_a, threshold_b=0.95)  # A flags 91..99, B flags 96..99
    html = _compare(alice_client, tenant_a, a.pk, b.pk).content.decode()
    assert (
        'id="compare-both">4<' in html
        and 'id="compare-only-a">5<' in html
        and 'id="compare-only-b">0<' in html
    )
    assert 'id="compare-jaccard">0.444<' in html


def test_reversed_scores_correlate_negatively(alice_client, tenant_a):
    a, b = _two_runs(tenant_a, scores_b=1 - np.arange(100) / 100, threshold_b=0.9)
    html = _compare(alice_client, tenant_a, a.pk, b.pk).content.decode()
    assert 'id="compare-spearman">-1.000<' in html and 'id="compare-both">0<' in html


def test_metrics_are_shown_side_by_side_when_labels_exist(alice_client, tenant_a):
    version = make_version(tenant_a, {"x": np.arange(100.0), "y": np.ones(100)})
    a = make_run(
        tenant_a, version, np.arange(100) / 100, threshold=0.9, metrics={"roc_auc": 0.81, "f1": 0.5}
    )
    b = make_run(
        tenant_a,
        version,
        np.arange(100) / 100,
        threshold=0.9,
        metrics={"roc_auc": 0.67, "f1": 0.25},
    )
    html = _compare(alice_client, tenant_a, a.pk, b.pk).content.decode()
    row = html[html.index("ROC-AUC") :]
    row = row[: row.index("</tr>")]
    assert "0.81" in row and "0.67" in row


def test_runs_on_different_data_are_refused_with_a_message(alice_client, tenant_a):
    a = small_run(tenant_a)
    b = small_run(tenant_a)
    response = _compare(alice_client, tenant_a, a.pk, b.pk)
    assert response.status_code == 400
    html = response.content.decode()
    assert "only runs on the same dataset version can be compared" in html
    assert 'id="compare-spearman"' not in html


def test_an_unfinished_run_is_refused_with_a_message(alice_client, tenant_a):
    a = small_run(tenant_a)
    b = make_run(tenant_a, a.dataset_version, np.arange(100) / 100, threshold=0.9, status="running")
    response = _compare(alice_client, tenant_a, a.pk, b.pk)
    assert response.status_code == 400
    assert "has not finished successfully" in response.content.decode()


def test_another_tenants_run_ids_are_404(alice_client, charlie_client, tenant_a, tenant_b):
    mine = small_run(tenant_a)
    theirs = small_run(tenant_b)
    assert _compare(alice_client, tenant_a, mine.pk, theirs.pk).status_code == 404
    assert _compare(charlie_client, tenant_b, theirs.pk, mine.pk).status_code == 404
    assert _compare(charlie_client, tenant_a, mine.pk, mine.pk).status_code == 404


def test_without_runs_chosen_the_page_offers_the_tenants_finished_runs(
    alice_client, tenant_a, tenant_b
):
    mine = small_run(tenant_a)
    theirs = small_run(tenant_b)
    html = alice_client.get(
        reverse("runs:compare", kwargs={"tenant_slug": tenant_a.slug})
    ).content.decode()
    assert f'<option value="{mine.pk}"' in html and f'<option value="{theirs.pk}"' not in html
