"""The whole loop on real runs (the task in process): run → verdicts → retrain → the child's
results page compares it with its parent on the held-out verdicts."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.feedback.selectors import verdict_labels
from apps.feedback.services import verdict_record
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from tests.web.runs.factories import blobs, make_config, make_run, make_version

pytestmark = pytest.mark.django_db


def test_marking_rows_retraining_and_reading_the_comparison(
    alice, alice_client, tenant_a, django_capture_on_commit_callbacks
):
    version = make_version(tenant_a, blobs(300, anomalies=15, label=False))
    version.sha256 = "1" * 64  # fixes which verdicts are held out
    version.save(update_fields=["sha256"])
    parent = make_run(tenant_a, alice, version, make_config(tenant_a, alice))
    execute_run(parent.pk)
    parent.refresh_from_db()
    assert parent.status == Run.Status.SUCCEEDED, parent.error
    for row in range(0, 300, 3):  # the planted anomalies are rows 0..14
        verdict_record(tenant=tenant_a, user=alice, version=version, row=row,
                       verdict="anomaly" if row < 15 else "normal", run=parent)  # fmt: skip
    held = verdict_labels(version, part="held_out")
    assert 0 < sum(held.values()) < len(held)

    kw = {"tenant_slug": tenant_a.slug, "run_id": parent.pk}
    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(reverse("feedback:retrain", kwargs=kw))
    child = Run.objects.get(parent=parent)
    execute_run(child.pk)
    child.refresh_from_db()
    assert child.status == Run.Status.SUCCEEDED and child.use_verdicts

    html = alice_client.get(child.url("results")).content.decode()
    block = html.split('id="holdout-comparison"')[1].split("</div>")[0]
    assert f"{len(held)} held-out verdicts" in block
    auc = re.search(
        r'data-metric="roc_auc">.*?<td class="pr-4">([\d.]+) \[([\d.]+), ([\d.]+)\]', block, re.S
    )
    assert auc, block
    value, low, high = (float(x) for x in auc.groups())
    assert low <= value <= high and value > 0.9  # the planted anomalies stand far out
    assert "DeLong, p" in block and re.search(r"(better than|No significant difference)", block)
