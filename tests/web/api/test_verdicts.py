"""The verdicts API: per run and per dataset version, idempotent by uuid, problem+json, audited."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from apps.audit.models import AuditEvent
from apps.feedback.models import Verdict
from apps.runs.models import Run
from tests.web.runs.test_results_fixtures import small_run

pytestmark = pytest.mark.django_db


def test_an_analyst_marks_a_row_and_everyone_in_the_workspace_reads_it(bob_api, vera_api, tenant_a):
    run = small_run(tenant_a)
    created = bob_api.post(
        f"/runs/{run.pk}/verdicts", json={"row": 95, "verdict": "anomaly", "note": "spike"}
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["row"], body["verdict"], body["label"], body["created_by"]) == (
        95,
        "anomaly",
        1,
        "bob@example.com",
    )
    listed = vera_api.get(f"/runs/{run.pk}/verdicts").json()["items"]
    assert [(v["row"], v["note"]) for v in listed] == [(95, "spike")]
    by_version = vera_api.get(f"/dataset-versions/{run.dataset_version_id}/verdicts").json()[
        "items"
    ]
    assert [v["id"] for v in by_version] == [body["id"]]
    assert AuditEvent.objects.filter(action="verdict.set").count() == 1


def test_the_same_uuid_twice_is_200_and_changes_nothing(bob_api, tenant_a):
    run = small_run(tenant_a)
    body = {"row": 3, "verdict": "normal", "uuid": str(uuid.uuid4())}
    assert bob_api.post(f"/runs/{run.pk}/verdicts", json=body).status_code == 201
    again = bob_api.post(f"/runs/{run.pk}/verdicts", json={**body, "verdict": "anomaly"})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["verdict"] == "normal"
    assert Verdict.objects.get().verdict == "normal"


def test_a_viewer_and_a_read_token_may_not_mark_rows(vera_api, alice_read_api, tenant_a):
    run = small_run(tenant_a)
    for api in (vera_api, alice_read_api):
        response = api.post(f"/runs/{run.pk}/verdicts", json={"row": 1, "verdict": "anomaly"})
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
    assert not Verdict.objects.exists()


@pytest.mark.parametrize(
    ("body", "loc"),
    [({"row": 100, "verdict": "anomaly"}, "row"), ({"row": 1, "verdict": "bad"}, "verdict"),
     ({"row": -1, "verdict": "normal"}, "row"), ({"row": 1, "verdict": "normal", "note": "x" * 2001}, "note")],
)  # fmt: skip
def test_bad_verdicts_are_422_problems_naming_the_field(bob_api, tenant_a, body, loc):
    run = small_run(tenant_a)
    response = bob_api.post(f"/runs/{run.pk}/verdicts", json=body)
    assert response.status_code == 422 and response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"][-1] == loc


def test_a_stranger_gets_404_for_every_verdict_endpoint(charlie_api, tenant_a):
    run = small_run(tenant_a)
    v = run.dataset_version_id
    for method, path in [
        ("get", f"/runs/{run.pk}/verdicts"), ("post", f"/runs/{run.pk}/verdicts"),
        ("delete", f"/runs/{run.pk}/verdicts/1"), ("get", f"/runs/{run.pk}/verdicts/export"),
        ("get", f"/runs/{run.pk}/verdicts/summary"), ("post", f"/runs/{run.pk}/retrain"),
        ("post", f"/runs/{run.pk}/threshold/from-verdicts"), ("get", f"/dataset-versions/{v}/verdicts"),
        ("post", f"/dataset-versions/{v}/verdicts"), ("delete", f"/dataset-versions/{v}/verdicts/1"),
    ]:  # fmt: skip
        kwargs = {"json": {"row": 1, "verdict": "anomaly"}} if method == "post" else {}
        response = getattr(charlie_api, method)(path, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response["Content-Type"] == "application/problem+json"


def test_deleting_clears_the_verdict_and_a_row_without_one_is_404(bob_api, tenant_a):
    run = small_run(tenant_a)
    bob_api.post(f"/runs/{run.pk}/verdicts", json={"row": 4, "verdict": "unsure"})
    assert bob_api.delete(f"/runs/{run.pk}/verdicts/4").status_code == 204
    assert not Verdict.objects.exists()
    assert bob_api.delete(f"/runs/{run.pk}/verdicts/4").status_code == 404
    assert AuditEvent.objects.filter(action="verdict.cleared").count() == 1


def test_export_as_csv_and_json(bob_api, tenant_a):
    run = small_run(tenant_a)
    bob_api.post(
        f"/runs/{run.pk}/verdicts", json={"row": 4, "verdict": "anomaly", "note": "=HYPERLINK(1)"}
    )
    bob_api.post(f"/runs/{run.pk}/verdicts", json={"row": 9, "verdict": "normal"})
    data = bob_api.get(f"/runs/{run.pk}/verdicts/export").json()
    assert [(v["row"], v["label"]) for v in data["verdicts"]] == [(4, 1), (9, 0)]
    text = bob_api.get(f"/runs/{run.pk}/verdicts/export", {"format": "csv"}).content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["row"] for r in rows] == ["4", "9"] and rows[0]["note"] == "'=HYPERLINK(1)"


def test_the_summary_gives_metrics_against_verdicts_and_retrain_starts_a_child(
    bob_api, tenant_a, django_capture_on_commit_callbacks
):
    run = small_run(tenant_a)  # scores i/100
    for row in range(0, 100, 3):
        bob_api.post(
            f"/runs/{run.pk}/verdicts",
            json={"row": row, "verdict": "anomaly" if row > 90 else "normal"},
        )
    summary = bob_api.get(f"/runs/{run.pk}/verdicts/summary").json()
    assert summary["metrics"]["rows"] == 34 and summary["metrics"]["roc_auc"] == 1.0
    assert summary["held_out_comparison"] is None
    with django_capture_on_commit_callbacks(execute=False):
        child = bob_api.post(f"/runs/{run.pk}/retrain")
    assert child.status_code == 202, child.content
    row = Run.objects.get(pk=child.json()["id"])
    assert (row.parent_id, row.use_verdicts) == (run.pk, True)


def test_retrain_without_verdicts_is_a_409_with_the_reason(bob_api, tenant_a):
    run = small_run(tenant_a)
    response = bob_api.post(f"/runs/{run.pk}/retrain")
    assert response.status_code == 409 and "no verdicts" in response.json()["detail"]


def test_the_threshold_from_verdicts_maximises_f1(bob_api, tenant_a):
    run = small_run(tenant_a)
    for row, v in [(80, "anomaly"), (95, "anomaly"), (10, "normal"), (70, "normal")]:
        bob_api.post(f"/runs/{run.pk}/verdicts", json={"row": row, "verdict": v})
    out = bob_api.post(f"/runs/{run.pk}/threshold/from-verdicts")
    assert out.status_code == 200, out.content
    body = out.json()
    assert body["f1"] == 1.0 and 0.70 < body["threshold"] < 0.80
    assert body["run"]["threshold"] == body["threshold"]
