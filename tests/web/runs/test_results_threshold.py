"""Threshold preview (htmx, anyone) and save (analysts and owners; audited; no refit)."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from apps.audit.models import AuditEvent

from .test_results_fixtures import make_run, make_version, results_env, small_run, url  # noqa: F401


def _htmx(trigger: str) -> dict:
    return {"HTTP_HX_REQUEST": "true", "HTTP_HX_TRIGGER": trigger}


def _csv_labels(client, run) -> int:
    body = b"".join(client.get(url("download_csv", run)).streaming_content).decode()
    rows = body.strip().split("\n")
    label = rows[0].split(",").index("label")
    return sum(int(r.split(",")[label]) for r in rows[1:])


def test_the_preview_counts_the_rows_above_the_threshold(vera_client, tenant_a):
    run = small_run(tenant_a)
    html = vera_client.get(
        url("threshold_preview", run, threshold="0.5"), **_htmx("threshold-number")
    ).content.decode()
    assert re.search(r'id="preview-count">49<', html)  # scores 0.51 … 0.99
    assert "of 100 rows flagged" in html
    html = vera_client.get(
        url("threshold_preview", run, threshold_range="0.955"), **_htmx("threshold-range")
    ).content.decode()
    assert re.search(r'id="preview-count">4<', html)


def test_the_preview_swaps_in_the_histogram_line_and_the_table_but_not_the_inputs(
    alice_client, tenant_a
):
    run = small_run(tenant_a)
    html = alice_client.get(
        url("threshold_preview", run, threshold_range="0.5"), **_htmx("threshold-range")
    ).content.decode()
    assert "<html" not in html
    assert re.search(r'<div id="histogram-panel"[^>]*hx-swap-oob="true"', html)
    fig = json.loads(
        re.search(
            r'id="chart-histogram-figure" type="application/json">(.*?)</script>', html, re.S
        )[1]
    )
    assert fig["layout"]["shapes"][0]["x0"] == 0.5
    assert re.search(r'<section id="anomalies-table"[^>]*hx-swap-oob="true"', html)
    assert len(re.findall(r'data-row-id="\d+"', html)) == 25  # first page of 49
    # replacing an input would yank it from under the user's pointer mid-drag
    assert 'id="threshold-range"' not in html and 'id="threshold-number"' not in html


def test_the_page_starts_both_inputs_at_the_saved_threshold(alice_client, tenant_a):
    html = alice_client.get(url("results", small_run(tenant_a, threshold=0.75))).content.decode()
    assert re.search(r'<input type="range" id="threshold-range"[^>]*value="0.75"', html, re.S)
    assert re.search(r'<input type="number" id="threshold-number"[^>]*value="0.75"', html, re.S)


def test_the_preview_without_javascript_is_the_full_page(alice_client, tenant_a):
    html = alice_client.get(
        url("threshold_preview", small_run(tenant_a), threshold="0.5")
    ).content.decode()
    assert "<html" in html and re.search(r'id="preview-count">49<', html)


def test_the_saved_threshold_stays_until_saved(alice_client, tenant_a):
    run = small_run(tenant_a)
    alice_client.get(url("threshold_preview", run, threshold="0.5"), **_htmx("threshold-number"))
    run.refresh_from_db()
    assert run.threshold == 0.9 and run.summary["anomalies"] == 9


@pytest.mark.parametrize("persona", ["alice_client", "bob_client"])
def test_owners_and_analysts_are_offered_the_save_button(request, tenant_a, persona):
    client = request.getfixturevalue(persona)
    html = client.get(
        url("threshold_preview", small_run(tenant_a), threshold="0.5"), **_htmx("threshold-number")
    ).content.decode()
    assert 'id="threshold-save-form"' in html and 'name="threshold" value="0.5"' in html


def test_saving_updates_the_counts_audits_and_the_downloads_follow(bob, bob_client, tenant_a):
    run = small_run(tenant_a)
    response = bob_client.post(url("threshold_save", run), {"threshold": "0.5"})
    assert response.status_code == 302 and response["Location"] == url("results", run)
    run.refresh_from_db()
    assert run.threshold == 0.5
    assert run.summary["anomalies"] == 49 and run.summary["threshold"] == 0.5
    assert run.summary["anomaly_rate"] == pytest.approx(0.49)
    event = AuditEvent.objects.get(action="run.threshold_changed")
    assert event.actor == bob and event.tenant == tenant_a and event.target_id == str(run.pk)
    assert event.details == {
        "before": {"threshold": 0.9, "anomalies": 9},
        "after": {"threshold": 0.5, "anomalies": 49},
    }
    page = bob_client.get(url("results", run)).content.decode()
    assert 'id="card-anomalies">49<' in page and "Threshold saved" in page
    assert _csv_labels(bob_client, run) == 49
    parquet = b"".join(bob_client.get(url("download_parquet", run)).streaming_content)
    assert sum(pq.read_table(io.BytesIO(parquet)).column("label").to_pylist()) == 49


def test_saving_recomputes_label_metrics_when_the_run_has_labels(alice_client, tenant_a):
    n = 100
    version = make_version(
        tenant_a, {"x": np.arange(n, dtype=float), "truth": (np.arange(n) >= 95).astype(int)}
    )
    run = make_run(
        tenant_a,
        version,
        np.arange(n) / n,
        threshold=0.9,
        label_column="truth",
        metrics={
            "roc_auc": 1.0,
            "tp": 5,
            "fp": 4,
            "tn": 91,
            "fn": 0,
            "precision": 5 / 9,
            "recall": 1.0,
            "f1": 0.71,
        },
    )
    alice_client.post(url("threshold_save", run), {"threshold": "0.965"})  # flags 97, 98, 99
    run.refresh_from_db()
    assert (run.metrics["tp"], run.metrics["fp"], run.metrics["fn"]) == (3, 0, 2)
    assert run.metrics["precision"] == 1.0 and run.metrics["recall"] == pytest.approx(0.6)
    assert run.metrics["roc_auc"] == 1.0  # ranking metrics do not depend on the threshold


def test_a_viewer_sees_the_preview_but_no_save_button_and_cannot_post(vera_client, tenant_a):
    run = small_run(tenant_a)
    html = vera_client.get(
        url("threshold_preview", run, threshold="0.5"), **_htmx("threshold-number")
    ).content.decode()
    assert re.search(r'id="preview-count">49<', html)
    assert 'id="threshold-save-form"' not in html and "an analyst or owner can save" in html
    assert vera_client.post(url("threshold_save", run), {"threshold": "0.5"}).status_code == 403
    run.refresh_from_db()
    assert run.threshold == 0.9
    assert not AuditEvent.objects.filter(action="run.threshold_changed").exists()


@pytest.mark.parametrize("value", ["", "abc", "nan", "inf"])
def test_a_threshold_that_is_not_a_number_is_refused_without_change(alice_client, tenant_a, value):
    run = small_run(tenant_a)
    response = alice_client.post(url("threshold_save", run), {"threshold": value}, follow=True)
    assert "Enter a number" in response.content.decode()
    run.refresh_from_db()
    assert run.threshold == 0.9


def test_saving_needs_post(alice_client, tenant_a):
    assert alice_client.get(url("threshold_save", small_run(tenant_a))).status_code == 405
