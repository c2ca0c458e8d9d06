"""The results page: summary, charts, flagged-rows table; who may see it."""

from __future__ import annotations

import numpy as np
import pytest

from .test_results_fixtures import (  # noqa: F401
    figure_in,
    make_run,
    make_version,
    results_env,
    small_run,
    url,
)

RESULT_URLS = ["results", "results_table", "threshold_preview", "download_csv", "download_parquet"]


def _figure(client, html: str, chart_id: str) -> dict:
    return figure_in(client, html, chart_id)


@pytest.mark.parametrize("persona", ["alice_client", "bob_client", "vera_client"])
def test_every_member_sees_the_results_page(request, tenant_a, persona):
    run = small_run(tenant_a)
    response = request.getfixturevalue(persona).get(url("results", run))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Results of run #{run.pk}" in html
    assert 'id="card-anomalies">9<' in html
    for chart in ("chart-histogram", "chart-timeseries", "chart-heatmap", "chart-projection"):
        assert f'<div id="{chart}" data-plotly data-figure-url="' in html
    assert "vendor/plotly/plotly.min.js" in html
    assert "cdn" not in html.lower()


@pytest.mark.parametrize("name", RESULT_URLS)
def test_a_stranger_gets_404_on_every_results_url(charlie_client, tenant_a, name):
    run = small_run(tenant_a)
    assert charlie_client.get(url(name, run)).status_code == 404


@pytest.mark.parametrize("name", RESULT_URLS)
def test_a_foreign_run_id_is_404_inside_my_own_workspace(charlie_client, tenant_a, tenant_b, name):
    from django.urls import reverse

    run = small_run(tenant_a)
    foreign = reverse(f"runs:{name}", kwargs={"tenant_slug": tenant_b.slug, "run_id": run.pk})
    response = charlie_client.get(foreign)
    assert response.status_code == 404
    assert b"item-9" not in response.content


def test_a_stranger_cannot_save_a_threshold_on_a_foreign_run(charlie_client, tenant_a, tenant_b):
    from django.urls import reverse

    run = small_run(tenant_a)
    foreign = reverse(
        "runs:threshold_save", kwargs={"tenant_slug": tenant_b.slug, "run_id": run.pk}
    )
    assert charlie_client.post(foreign, {"threshold": "0.5"}).status_code == 404
    run.refresh_from_db()
    assert run.threshold == 0.9


def test_an_unfinished_run_shows_a_friendly_state_linking_to_the_run(alice_client, tenant_a):
    version = make_version(tenant_a, {"x": [1.0, 2.0]})
    run = make_run(tenant_a, version, [0.1, 0.2], threshold=0.5, status="running")
    html = alice_client.get(url("results", run)).content.decode()
    assert "has not finished yet" in html
    assert "Running" in html
    assert f'href="/t/{tenant_a.slug}/runs/' in html
    assert "data-plotly" not in html


def test_downloads_of_an_unfinished_run_are_404(alice_client, tenant_a):
    version = make_version(tenant_a, {"x": [1.0, 2.0]})
    run = make_run(tenant_a, version, [0.1, 0.2], threshold=0.5, status="queued")
    assert alice_client.get(url("download_csv", run)).status_code == 404
    assert alice_client.get(url("download_parquet", run)).status_code == 404


def test_the_page_shows_summary_quantiles_duration_and_metrics(alice_client, tenant_a):
    metrics = {
        "roc_auc": 0.91234,
        "average_precision": 0.5,
        "f1": 0.4,
        "precision": 0.5,
        "recall": 0.33,
        "tp": 3,
        "fp": 3,
        "tn": 90,
        "fn": 4,
        "k": 7,
        "precision_at_k": 0.42,
    }
    run = small_run(tenant_a, metrics=metrics, label_column="z")
    html = alice_client.get(url("results", run)).content.decode()
    assert 'id="score-quantiles"' in html and ">0.99<" in html  # max score
    assert "12.0 s" in html
    assert 'id="metrics"' in html and "ROC-AUC" in html and "0.912" in html


def test_the_page_has_no_metrics_without_labels(alice_client, tenant_a):
    html = alice_client.get(url("results", small_run(tenant_a))).content.decode()
    assert 'id="metrics"' not in html


def test_the_histogram_on_the_page_has_its_line_at_the_saved_threshold(alice_client, tenant_a):
    html = alice_client.get(url("results", small_run(tenant_a, threshold=0.75))).content.decode()
    assert _figure(alice_client, html, "chart-histogram")["layout"]["shapes"][0]["x0"] == 0.75


def test_the_time_series_uses_the_datasets_time_column(alice_client, tenant_a):
    import pandas as pd

    times = pd.date_range("2024-01-01", periods=50, freq="h")
    version = make_version(
        tenant_a, {"ts": times[::-1], "x": np.arange(50.0), "y": np.ones(50)}, time_column="ts"
    )
    run = make_run(tenant_a, version, np.arange(50) / 50, threshold=0.97, time_column="ts")
    fig = _figure(
        alice_client, alice_client.get(url("results", run)).content.decode(), "chart-timeseries"
    )
    flagged = fig["data"][1]
    assert flagged["customdata"] == [49]
    assert flagged["x"] == ["2024-01-01T00:00:00"]  # row 49 holds the earliest time
    assert fig["data"][0]["x"] == sorted(fig["data"][0]["x"])


def test_the_heatmap_uses_contributions_when_the_run_has_them(alice_client, tenant_a):
    n = 40
    version = make_version(tenant_a, {"x": np.arange(n, dtype=float), "y": np.zeros(n)})
    run = make_run(
        tenant_a,
        version,
        np.arange(n) / n,
        threshold=0.5,
        contributions={"x": np.linspace(0, 1, n), "y": np.linspace(1, 0, n)},
    )
    fig = _figure(
        alice_client, alice_client.get(url("results", run)).content.decode(), "chart-heatmap"
    )
    assert fig["data"][0]["x"] == ["x", "y"]
    assert len(fig["data"][0]["z"]) == 30
    assert "contribution" in fig["layout"]["title"]["text"]


def test_the_page_of_a_million_row_run_stays_small_and_says_what_it_shows(alice_client, tenant_a):
    n = 1_000_000
    rng = np.random.default_rng(0)
    data = {"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)}
    version = make_version(tenant_a, data, row_group_size=128_000)
    scores = rng.random(n)
    run = make_run(tenant_a, version, scores, threshold=0.99)  # ~10,000 flagged rows
    response = alice_client.get(url("results", run))
    assert response.status_code == 200
    assert len(response.content) < 100_000  # the charts are fetched from their own URLs
    html = response.content.decode()
    ts = _figure(alice_client, html, "chart-timeseries")
    assert "showing" in ts["layout"]["title"]["text"]
    assert "of 1,000,000" in ts["layout"]["title"]["text"]
    assert len(ts["data"][1]["x"]) == int((scores > 0.99).sum())  # every flagged row drawn
    assert len(ts["data"][0]["x"]) <= 5000
    hist = _figure(alice_client, html, "chart-histogram")
    assert sum(hist["data"][0]["y"]) == n  # the histogram counts every row
