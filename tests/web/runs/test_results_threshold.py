"""Threshold preview (htmx, anyone) and save (analysts and owners; audited; no refit)."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from apps.audit.models import AuditEvent

from .test_results_fixtures import (  # noqa: F401
    figure_in,
    make_run,
    make_version,
    results_env,
    small_run,
    url,
)


def _htmx(trigger: str) -> dict:
    return {"HTTP_HX_REQUEST": "true", "HTTP_HX_TRIGGER": trigger}


def _csv_labels(client, run) -> int:
    import csv
    import io

    body = b"".join(client.get(url("download_csv", run)).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    return sum(int(r["predicted_anomaly"]) for r in rows)


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
    fig = figure_in(alice_client, html, "chart-histogram")  # its URL asks for the previewed one
    assert fig["layout"]["shapes"][0]["x0"] == 0.5
    assert re.search(r'<section id="anomalies-table"[^>]*hx-swap-oob="true"', html)
    assert len(re.findall(r'data-row-id="\d+"', html)) == 25  # first page of 49
    # replacing an input would yank it from under the user's pointer mid-drag
    assert 'id="threshold-range"' not in html and 'id="threshold-number"' not in html


def _stops(html: str) -> list[dict]:
    return json.loads(
        re.search(r'id="threshold-stops" type="application/json">(.*?)</script>', html, re.S)[1]
    )


def test_the_page_starts_both_inputs_at_the_saved_threshold(alice_client, tenant_a):
    html = alice_client.get(url("results", small_run(tenant_a, threshold=0.75))).content.decode()
    assert re.search(r'<input type="number" id="threshold-number"[^>]*value="0.75"', html, re.S)
    # the slider moves in flagged rows: it starts at the stop flagging as many rows (24) as
    # the saved threshold
    position = int(
        re.search(r'<input type="range" id="threshold-range"[^>]*value="(\d+)"', html, re.S)[1]
    )
    stops = _stops(html)
    assert abs(stops[position]["flagged"] - 24) <= 1


def test_the_slider_spreads_the_small_flagged_shares_over_the_track(alice_client, tenant_a):
    """In raw score 80 % of the track flagged under 0.1 % of the rows; in flagged rows on a
    log scale the last half of the track covers 1 % down to one row."""
    run = small_run(tenant_a, n=10_000, threshold=0.99)
    stops = _stops(alice_client.get(url("results", run)).content.decode())
    flagged = [s["flagged"] for s in stops]
    assert flagged[0] == 10_000 and flagged[-1] == 0
    assert flagged == sorted(flagged, reverse=True)
    middle = len(stops) // 2
    assert 90 <= flagged[middle] <= 110  # about 1 % half way along
    assert sum(1 for f in flagged if 1 <= f <= 100) >= 0.45 * len(stops)
    # each stop's threshold flags its count (scores are distinct here)
    scores = np.arange(10_000) / 10_000
    for stop in stops[::17]:
        assert int((scores > stop["threshold"]).sum()) == stop["flagged"]


def test_the_preview_updates_the_metrics_against_the_labels(alice_client, tenant_a):
    n = 200
    truth = (np.arange(n) >= 190).astype(int)  # the ten highest scores are the anomalies
    version = make_version(tenant_a, {"x": np.arange(n, dtype="float64"), "y": truth})
    run = make_run(
        tenant_a,
        version,
        np.arange(n) / n,
        threshold=0.9,  # flags rows 181..199: 10 true, 9 false positives
        label_column="y",
        metrics={"roc_auc": 1.0, "f1": 2 * 10 / 29, "precision": 10 / 19, "recall": 1.0,
                 "tp": 10, "fp": 9, "tn": 181, "fn": 0},
    )  # fmt: skip
    html = alice_client.get(
        url("threshold_preview", run, threshold="0.945"), **_htmx("threshold-number")
    ).content.decode()
    assert '<div id="metrics-panel" hx-swap-oob="true">' in html
    assert re.search(r'data-metric="fp">0<', html)  # rows 190..199 only: no false positive
    assert re.search(r'data-metric="tp">10<', html)
    assert re.search(r'data-metric="precision">1(\.0+)?<', html)
    assert "at the previewed threshold 0.945" in html
    # and the time series' flagged markers follow the preview too
    assert re.search(r'<div id="timeseries-panel"[^>]*hx-swap-oob="true"', html)


def test_thresholds_read_as_numbers_not_exponents(alice_client, tenant_a):
    run = small_run(tenant_a, threshold=5.072e-17)
    html = alice_client.get(url("results", run)).content.decode()
    visible = re.sub(r"<script.*?</script>|value=\"[^\"]*\"", "", html, flags=re.S)
    assert "5.072e-17" not in visible  # the inputs and the figures' numbers keep it exact
    assert "5.072 × 10⁻¹⁷" in visible
    assert "threshold 5.072e-17" not in html  # the histogram's label reads as a number too


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
    assert sum(pq.read_table(io.BytesIO(parquet)).column("predicted_anomaly").to_pylist()) == 49


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
