"""Verdicts: one per row, every change kept and audited, replays change nothing, labels for training."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.feedback import selectors
from apps.feedback.models import Verdict, VerdictChange
from apps.feedback.services import FeedbackError, verdict_record, verdicts_sync
from pynomaly.feedback import held_out
from tests.web.runs.test_results_fixtures import small_run

pytestmark = pytest.mark.django_db


def _mark(run, user, row, verdict, **kw):
    return verdict_record(
        tenant=run.tenant, user=user, version=run.dataset_version, row=row, verdict=verdict,
        run=run, **kw,
    )  # fmt: skip


def test_a_new_verdict_replaces_the_old_one_and_both_changes_are_kept(alice, tenant_a):
    run = small_run(tenant_a)
    _mark(run, alice, 95, "anomaly", note="spike")
    _mark(run, alice, 95, "normal", note="maintenance window")
    current = Verdict.objects.get(dataset_version=run.dataset_version, row=95)
    assert (current.verdict, current.note) == ("normal", "maintenance window")
    assert VerdictChange.objects.filter(row=95).count() == 2
    events = AuditEvent.objects.filter(action="verdict.set").order_by("id")
    assert events.count() == 2
    assert events.last().details["before"] == {"verdict": "anomaly", "note": "spike"}


def test_the_same_uuid_sent_twice_changes_nothing_the_second_time(alice, tenant_a):
    run = small_run(tenant_a)
    change = uuid.uuid4()
    first = _mark(run, alice, 93, "anomaly", uuid=change)
    _mark(run, alice, 93, "normal")  # a later change by someone else
    again = _mark(run, alice, 93, "anomaly", uuid=change)  # the offline queue resends the first
    assert first.applied and not again.applied and again.duplicate
    assert Verdict.objects.get(row=93).verdict == "normal"
    assert VerdictChange.objects.filter(row=93).count() == 2
    assert AuditEvent.objects.filter(action="verdict.set").count() == 2


def test_an_offline_verdict_older_than_the_current_one_is_kept_but_not_applied(
    alice, bob, tenant_a
):
    run = small_run(tenant_a)
    _mark(run, bob, 92, "normal")
    stale = _mark(run, alice, 92, "anomaly", made_at=timezone.now() - timedelta(hours=1))
    assert not stale.applied and not stale.duplicate
    assert Verdict.objects.get(row=92).verdict == "normal"
    assert VerdictChange.objects.get(row=92, verdict="anomaly").applied is False


def test_clearing_deletes_the_verdict_and_is_audited(alice, tenant_a):
    run = small_run(tenant_a)
    _mark(run, alice, 91, "unsure")
    _mark(run, alice, 91, "")
    assert not Verdict.objects.filter(row=91).exists()
    assert AuditEvent.objects.filter(action="verdict.cleared").count() == 1


@pytest.mark.parametrize(
    ("row", "verdict", "note", "field"),
    [(100, "anomaly", "", "row"), (-1, "anomaly", "", "row"), (5, "weird", "", "verdict"),
     (5, "normal", "x" * 2001, "note")],
)  # fmt: skip
def test_bad_input_is_refused_with_the_field_and_writes_nothing(
    alice, tenant_a, row, verdict, note, field
):
    run = small_run(tenant_a)
    with pytest.raises(FeedbackError) as exc:
        _mark(run, alice, row, verdict, note=note)
    assert exc.value.field == field
    assert (
        not VerdictChange.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="verdict").exists()
    )


def test_a_version_of_another_workspace_is_refused(alice, tenant_a, tenant_b):
    run = small_run(tenant_b)
    with pytest.raises(FeedbackError):
        verdict_record(
            tenant=tenant_a, user=alice, version=run.dataset_version, row=1, verdict="anomaly"
        )


def test_verdict_labels_are_one_for_anomalies_zero_for_normals_and_leave_unsure_out(
    alice, tenant_a
):
    run = small_run(tenant_a)
    for row, v in [(1, "anomaly"), (2, "normal"), (3, "unsure")]:
        _mark(run, alice, row, v)
    assert selectors.verdict_labels(run.dataset_version) == {1: 1, 2: 0}


def test_the_held_out_part_is_fixed_by_the_row_hash_and_the_parts_do_not_overlap(alice, tenant_a):
    run = small_run(tenant_a)
    for row in range(60):
        _mark(run, alice, row, "anomaly" if row % 3 == 0 else "normal")
    version = run.dataset_version
    train = selectors.verdict_labels(version, part="train")
    held = selectors.verdict_labels(version, part="held_out")
    assert set(train) | set(held) == set(range(60)) and not set(train) & set(held)
    assert 5 <= len(held) <= 35  # about 30 %
    expected = {r for r, h in zip(range(60), held_out(range(60), version.sha256), strict=True) if h}
    assert set(held) == expected
    run.use_verdicts = True
    assert selectors.run_training_labels(run) == train


def test_a_sync_batch_reports_each_item_and_refuses_only_the_bad_one(alice, tenant_a):
    run = small_run(tenant_a)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    items = [
        {"uuid": ids[0], "row": 95, "verdict": "anomaly", "made_at": "2026-12-01T10:00:00Z"},
        {"uuid": ids[1], "row": 1000, "verdict": "anomaly"},
        {"uuid": ids[2], "row": 96, "verdict": "normal", "note": "ok"},
    ]
    out = verdicts_sync(tenant=tenant_a, user=alice, run=run, items=items)
    assert [r["status"] for r in out] == ["applied", "refused", "applied"]
    again = verdicts_sync(tenant=tenant_a, user=alice, run=run, items=items)
    assert [r["status"] for r in again] == ["duplicate", "refused", "duplicate"]
    assert Verdict.objects.count() == 2 and VerdictChange.objects.count() == 2
