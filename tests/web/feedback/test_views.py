"""Triage in the browser without JavaScript or with HTMX: buttons, filter, row page, sync, retrain."""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.feedback.models import Verdict, VerdictChange
from apps.feedback.services import verdict_record
from apps.runs.anomalies import row_url
from apps.runs.models import Run
from tests.web.runs.test_results_fixtures import make_run, small_run, url

pytestmark = pytest.mark.django_db


def furl(name: str, run, **kw) -> str:
    return reverse(
        f"feedback:{name}", kwargs={"tenant_slug": run.tenant.slug, "run_id": run.pk, **kw}
    )


def _mark(run, user, row, verdict):
    verdict_record(
        tenant=run.tenant, user=user, version=run.dataset_version, row=row, verdict=verdict, run=run
    )


def test_the_flagged_rows_table_offers_verdict_buttons_to_an_analyst(bob_client, tenant_a):
    run = small_run(tenant_a)
    html = bob_client.get(url("results", run)).content.decode()
    assert 'id="verdict-95"' in html and 'data-kind="anomaly"' in html
    assert 'tabindex="0" class="verdict-row"' in html
    assert furl("row", run, row=95) in html
    assert "Retrain with feedback" in html and "js/feedback.js" in html


def test_a_viewer_sees_verdicts_but_no_buttons_and_cannot_post(vera_client, alice, tenant_a):
    run = small_run(tenant_a)
    _mark(run, alice, 95, "anomaly")
    html = vera_client.get(url("results", run)).content.decode()
    assert 'class="verdict-badge" data-kind="anomaly"' in html
    assert 'button type="submit" name="verdict"' not in html
    assert "Retrain with feedback" not in html
    response = vera_client.post(furl("row", run, row=95), {"verdict": "normal"})
    assert response.status_code == 403
    assert Verdict.objects.get(row=95).verdict == "anomaly"


def test_marking_with_htmx_swaps_the_cell_showing_the_verdict_pressed(bob, bob_client, tenant_a):
    run = small_run(tenant_a)
    change = str(uuid.uuid4())
    response = bob_client.post(
        furl("row", run, row=97), {"verdict": "anomaly", "note": "sensor", "uuid": change},
        headers={"HX-Request": "true", "HX-Target": "verdict-97"},
    )  # fmt: skip
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith('<td id="verdict-97"')
    assert 'data-kind="anomaly" aria-pressed="true"' in html and 'value="sensor"' in html
    verdict = Verdict.objects.get(row=97)
    assert (verdict.verdict, verdict.created_by, verdict.run_id, str(verdict.uuid)) == (
        "anomaly",
        bob,
        run.pk,
        change,
    )
    assert AuditEvent.objects.filter(action="verdict.set", actor=bob).count() == 1


def test_without_javascript_the_form_posts_and_comes_back_to_the_page(bob_client, tenant_a):
    run = small_run(tenant_a)
    back = url("results", run) + "?page=1"
    response = bob_client.post(furl("row", run, row=96), {"verdict": "normal", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert Verdict.objects.get(row=96).verdict == "normal"


def test_an_unknown_verdict_is_a_422_cell_with_the_reason(bob_client, tenant_a):
    run = small_run(tenant_a)
    response = bob_client.post(
        furl("row", run, row=96), {"verdict": "maybe"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422 and 'role="alert"' in response.content.decode()
    assert not Verdict.objects.exists()


def test_the_table_filters_by_verdict(alice, alice_client, tenant_a):
    run = small_run(tenant_a)  # rows 91..99 flagged
    _mark(run, alice, 95, "anomaly")
    _mark(run, alice, 96, "normal")

    def rows(**q):
        html = alice_client.get(
            url("results_table", run, **q), headers={"HX-Request": "true"}
        ).content.decode()
        return [int(x) for x in __import__("re").findall(r'<tr data-row-id="(\d+)"', html)]

    assert rows(verdict="anomaly") == [95]
    assert rows(verdict="normal") == [96]
    assert sorted(rows(verdict="none")) == [91, 92, 93, 94, 97, 98, 99]
    assert len(rows()) == 9
    html = alice_client.get(url("results", run, verdict="anomaly")).content.decode()
    assert 'data-filter="anomaly" aria-current="true"' in html
    assert "verdict=anomaly" in html.split('id="anomalies-table"')[1]  # sort links keep the filter


def test_the_results_page_shows_metrics_against_the_verdicts(alice, alice_client, tenant_a):
    run = small_run(tenant_a)  # scores i/100, threshold 0.9
    for row in (95, 97, 98):
        _mark(run, alice, row, "anomaly")
    for row in (10, 20, 92):
        _mark(run, alice, row, "normal")
    html = alice_client.get(url("results", run)).content.decode()
    assert "This run against the verdicts (6 rows)" in html
    assert 'id="verdict-metrics"' in html and "ROC-AUC" in html.split('id="verdict-metrics"')[1]
    from tests.web.runs.test_results_fixtures import figure_in

    figure = figure_in(alice_client, html, "chart-verdicts")
    assert [t["name"] for t in figure["data"]] == ["Anomaly (3)", "Normal (3)"]


def test_the_row_page_shows_values_score_verdict_and_history(alice, alice_client, tenant_a):
    run = small_run(tenant_a)
    _mark(run, alice, 95, "unsure")
    _mark(run, alice, 95, "anomaly")
    # The verdicts' row URL is the run's row page (one page per row: explanation + verdict).
    response = alice_client.get(furl("row", run, row=95))
    assert response.status_code == 302 and response["Location"] == row_url(run, 95)
    html = alice_client.get(response["Location"]).content.decode()
    assert "Row 95" in html and "item-95" in html and ">0.95<" in html
    assert 'id="verdict-panel"' in html and 'aria-pressed="true"' in html
    assert html.count("<li>") >= 2 and "Unsure" in html.split('id="verdict-history"')[1]


def test_a_row_past_the_end_is_404(alice_client, tenant_a):
    run = small_run(tenant_a)
    assert alice_client.get(furl("row", run, row=100)).status_code == 404


def test_a_stranger_gets_404_on_every_feedback_url(charlie_client, tenant_a):
    run = small_run(tenant_a)
    for name, kw in [("row", {"row": 1}), ("sync", {}), ("export_csv", {}), ("export_json", {}),
                     ("retrain", {}), ("learn_threshold", {})]:  # fmt: skip
        assert charlie_client.get(furl(name, run, **kw)).status_code == 404, name
        assert charlie_client.post(furl(name, run, **kw)).status_code == 404, name


def test_the_sync_endpoint_applies_a_queue_once(bob_client, tenant_a):
    run = small_run(tenant_a)
    items = [{"uuid": str(uuid.uuid4()), "row": r, "verdict": "anomaly", "made_at": "2026-12-01T09:00:00Z"}
             for r in (91, 92)]  # fmt: skip
    body = json.dumps({"items": items})
    first = bob_client.post(furl("sync", run), body, content_type="application/json")
    second = bob_client.post(furl("sync", run), body, content_type="application/json")
    assert [r["status"] for r in first.json()["results"]] == ["applied", "applied"]
    assert [r["status"] for r in second.json()["results"]] == ["duplicate", "duplicate"]
    assert first.json()["counts"]["anomaly"] == 2
    assert VerdictChange.objects.count() == 2
    assert (
        bob_client.post(furl("sync", run), "nonsense", content_type="application/json").status_code
        == 400
    )


def test_exports_hold_every_verdict_with_label_and_held_out_flag(alice, alice_client, tenant_a):
    run = small_run(tenant_a)
    _mark(run, alice, 95, "anomaly")
    _mark(run, alice, 10, "normal")
    data = alice_client.get(furl("export_json", run)).json()
    assert [(v["row"], v["label"]) for v in data["verdicts"]] == [(10, 0), (95, 1)]
    assert all(isinstance(v["held_out"], bool) for v in data["verdicts"])
    csv = alice_client.get(furl("export_csv", run)).content.decode()
    assert csv.splitlines()[0] == "row,verdict,label,held_out,note,run,made_at,by"
    assert len(csv.splitlines()) == 3


def test_retrain_with_feedback_starts_a_child_run_that_uses_verdicts(
    alice, alice_client, tenant_a, django_capture_on_commit_callbacks
):
    run = small_run(tenant_a)
    for row in range(0, 100, 4):
        _mark(run, alice, row, "anomaly" if row > 90 else "normal")
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_client.post(furl("retrain", run))
    child = Run.objects.exclude(pk=run.pk).get()
    assert response.status_code == 302 and response["Location"] == child.url()
    assert (child.parent_id, child.use_verdicts, child.status) == (run.pk, True, "queued")
    event = AuditEvent.objects.get(action="run.started")
    assert event.details["parent"] == run.pk and event.details["use_verdicts"] is True


def test_retrain_without_verdicts_says_what_is_missing(alice_client, tenant_a):
    run = small_run(tenant_a)
    response = alice_client.post(furl("retrain", run), follow=True)
    assert "Mark some rows anomaly or normal first" in response.content.decode()
    assert Run.objects.count() == 1


def test_the_threshold_learned_from_verdicts_is_saved_and_audited(alice, alice_client, tenant_a):
    run = small_run(tenant_a)  # scores i/100
    for row in (80, 85, 95):
        _mark(run, alice, row, "anomaly")
    for row in (10, 50, 70):
        _mark(run, alice, row, "normal")
    response = alice_client.post(furl("learn_threshold", run), follow=True)
    run.refresh_from_db()
    assert 0.70 < run.threshold < 0.80
    assert "Threshold learned from 6 verdicts" in response.content.decode()
    assert AuditEvent.objects.filter(action="run.threshold_changed").count() == 1


def test_a_retrain_compares_itself_with_its_parent_on_held_out_verdicts(
    alice, alice_client, tenant_a
):
    import numpy as np

    from apps.feedback.selectors import verdict_labels

    parent = small_run(tenant_a)
    version = parent.dataset_version
    version.sha256 = "0" * 64  # the salt of the held-out rule: the same held-out rows every time
    version.save(update_fields=["sha256"])
    for row in range(100):
        _mark(parent, alice, row, "anomaly" if row % 10 == 0 else "normal")
    held = verdict_labels(version, part="held_out")
    assert any(held.values()) and not all(held.values())
    perfect = np.array([1.0 if row % 10 == 0 else 0.0 for row in range(100)])
    child = make_run(tenant_a, version, perfect, threshold=0.5, detector=parent.detector_version)
    Run.objects.filter(pk=child.pk).update(parent=parent, use_verdicts=True)
    html = alice_client.get(url("results", child)).content.decode()
    block = html.split('id="holdout-comparison"')[1].split("</div>")[0]
    assert f"run #{parent.pk}" in block and f"{len(held)} held-out verdicts" in block
    row = '<tr data-metric="roc_auc"><td class="pr-4 font-sans">ROC-AUC</td><td class="pr-4">1.000 [1.000, 1.000]</td>'
    assert row in block
    assert f"Run #{child.pk} is better than run #{parent.pk} on ROC-AUC" in block
    assert "DeLong, p" in block and "paired bootstrap, p" in block


def test_someone_the_run_is_shared_with_sees_no_verdicts_and_cannot_reach_them(alice, tenant_a):
    from apps.runs.sharing import run_share
    from tests.conftest import _client_for, _user

    run = small_run(tenant_a)
    _mark(run, alice, 95, "anomaly")
    sam = _user("sam@example.com")
    run_share(run=run, email="sam@example.com", expires_at=None, actor=alice)
    client = _client_for(sam)
    html = client.get(url("results", run)).content.decode()
    assert "Results of run" in html  # the share works
    assert "verdict" not in html.lower()  # the workspace's verdicts stay inside it
    assert client.get(furl("row", run, row=95)).status_code == 404
    assert client.get(furl("export_json", run)).status_code == 404
