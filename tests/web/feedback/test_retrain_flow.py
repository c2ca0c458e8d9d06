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


def test_a_retrain_learns_from_the_verdicts_what_the_unsupervised_run_missed(
    alice, alice_client, tenant_a, django_capture_on_commit_callbacks
):
    """Anomalies in a tight cluster inside the data's range: density detectors call them normal;
    verdicts say otherwise, and the retrain (Automatic, trained on them) finds the rest."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 5))
    X[:60] = rng.normal(loc=0.9, scale=0.05, size=(60, 5))  # rows 0..59: the anomalies
    version = make_version(tenant_a, pd.DataFrame(X, columns=list("abcde")))
    version.sha256 = "2" * 64  # fixes which verdicts are held out
    version.save(update_fields=["sha256"])
    parent = make_run(tenant_a, alice, version, make_config(tenant_a, alice))
    execute_run(parent.pk)
    for row in [*range(0, 60), *range(200, 500, 2)]:  # the cluster, and normal rows
        verdict_record(tenant=tenant_a, user=alice, version=version, row=row,
                       verdict="anomaly" if row < 60 else "normal", run=parent)  # fmt: skip
    kw = {"tenant_slug": tenant_a.slug, "run_id": parent.pk}
    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(reverse("feedback:retrain", kwargs=kw))
    child = Run.objects.get(parent=parent)
    execute_run(child.pk)
    child.refresh_from_db()
    assert child.status == Run.Status.SUCCEEDED, child.error
    assert child.detector_version.detector_keys == ["auto"]
    assert child.selection["mode"] == "labelled"

    html = alice_client.get(child.url("results")).content.decode()
    block = html.split('id="holdout-comparison"')[1].split("</div>")[0]
    row = re.search(
        r'data-metric="roc_auc">.*?<td class="pr-4">([\d.]+) \[([\d.]+), ([\d.]+)\]</td>'
        r'<td class="pr-4">([\d.]+) \[',
        block,
        re.S,
    )
    assert row, block
    child_auc, low, _high, parent_auc = (float(x) for x in row.groups())
    # Better on verdicts training never saw, by more than the interval's width below it.
    assert child_auc > parent_auc + 0.2 and low > parent_auc, block
    assert "better than" in block
