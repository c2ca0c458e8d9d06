"""Runs, results and trained models over the API."""

from __future__ import annotations

import csv
import io

import pytest

from apps.audit.models import AuditEvent
from apps.detectors.models import TrainedModel
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from tests.web.runs.factories import blobs, make_config, make_run, make_version

from .conftest import assert_problem


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)


@pytest.fixture
def inputs(alice, tenant_a):
    return make_version(tenant_a, blobs(200), user=alice), make_config(tenant_a, alice)


@pytest.fixture
def finished(alice_api, inputs):
    version, config = inputs
    r = alice_api.post(
        "/runs",
        json={
            "dataset_version_id": version.pk,
            "detector_config_id": config.pk,
            "label_column": "is_anomaly",
        },
    )
    assert r.status_code == 202, r.content
    execute_run(r.json()["id"])
    run = Run.objects.get(pk=r.json()["id"])
    assert run.status == "succeeded", run.error
    return run


def test_a_run_starts_queued_with_202(alice_api, inputs):
    version, config = inputs
    r = alice_api.post(
        "/runs",
        json={
            "dataset_id": version.dataset_id,
            "detector_config_id": config.pk,
            "max_fit_rows": 100,
        },
    )
    assert r.status_code == 202, r.content
    body = r.json()
    assert (
        body["status"],
        body["dataset_version_id"],
        body["detector_version_id"],
        body["max_fit_rows"],
    ) == ("queued", version.pk, config.current.pk, 100)
    assert body["dataset_id"] == version.dataset_id and body["detector_config_id"] == config.pk
    assert body["trained_model_id"] is None
    assert AuditEvent.objects.filter(action="run.started", ip="127.0.0.1").exists()


def test_starting_a_run_names_bad_fields(alice_api, inputs):
    version, config = inputs
    body = assert_problem(alice_api.post("/runs", json={"detector_config_id": config.pk}), 422)
    assert body["errors"][0]["loc"] == ["body", "dataset_id"]
    body = assert_problem(
        alice_api.post(
            "/runs",
            json={
                "dataset_id": version.dataset_id,
                "detector_config_id": config.pk,
                "label_column": "nope",
            },
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "label_column"]
    body = assert_problem(alice_api.post("/runs", json={"dataset_id": version.dataset_id}), 422)
    assert body["errors"][0]["loc"] == ["body", "detector_config_id"]
    assert not Run.objects.exists()


def test_a_stranger_cannot_start_a_run_on_another_tenants_data_nor_see_its_runs(
    charlie_api, alice, tenant_a, inputs
):
    version, config = inputs
    run = make_run(tenant_a, alice, version, config)
    assert_problem(
        charlie_api.post(
            "/runs", json={"dataset_version_id": version.pk, "detector_config_id": config.pk}
        ),
        404,
    )
    for r in (
        charlie_api.get(f"/runs/{run.pk}"),
        charlie_api.post(f"/runs/{run.pk}/cancel"),
        charlie_api.get(f"/runs/{run.pk}/results"),
        charlie_api.get(f"/runs/{run.pk}/results/download"),
    ):
        assert_problem(r, 404)
    assert charlie_api.get("/runs").json()["items"] == []
    assert Run.objects.get().status == "queued"


@pytest.mark.parametrize("who", ["vera_api", "alice_read_api"])
def test_viewers_and_read_tokens_cannot_start_or_cancel_runs(who, request, alice, tenant_a, inputs):
    api = request.getfixturevalue(who)
    version, config = inputs
    run = make_run(tenant_a, alice, version, config)
    assert api.get(f"/runs/{run.pk}").status_code == 200
    assert_problem(
        api.post("/runs", json={"dataset_version_id": version.pk, "detector_config_id": config.pk}),
        403,
    )
    assert_problem(api.post(f"/runs/{run.pk}/cancel"), 403)
    assert Run.objects.count() == 1 and Run.objects.get().status == "queued"


def test_a_queued_run_is_cancelled_and_a_finished_one_is_a_409(alice_api, alice, tenant_a, inputs):
    version, config = inputs
    run = make_run(tenant_a, alice, version, config)
    assert alice_api.post(f"/runs/{run.pk}/cancel").json()["status"] == "cancelled"
    assert_problem(alice_api.post(f"/runs/{run.pk}/cancel"), 409)


def test_runs_filter_by_status_dataset_and_configuration(alice_api, alice, tenant_a, inputs):
    version, config = inputs
    other = make_config(tenant_a, alice, name="other")
    a = make_run(tenant_a, alice, version, config)
    b = make_run(tenant_a, alice, version, other, status="failed")
    ids = lambda q: [r["id"] for r in alice_api.get("/runs", q).json()["items"]]  # noqa: E731
    assert ids({}) == [b.pk, a.pk]
    assert ids({"status": "failed"}) == [b.pk]
    assert ids({"detector_config_id": config.pk}) == [a.pk]
    assert ids({"dataset_id": version.dataset_id + 1000}) == []
    assert_problem(alice_api.get("/runs", {"status": "bogus"}), 422)


def test_a_finished_run_reports_its_model_and_results_page_by_score(alice_api, finished):
    body = alice_api.get(f"/runs/{finished.pk}").json()
    assert body["status"] == "succeeded" and body["trained_model_id"] is not None
    assert body["summary"] and body["metrics"]
    page1 = alice_api.get(f"/runs/{finished.pk}/results", {"limit": 5}).json()
    scores = [row["score"] for row in page1["items"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    page2 = alice_api.get(
        f"/runs/{finished.pk}/results", {"limit": 5, "cursor": page1["next_cursor"]}
    ).json()
    assert page2["items"][0]["score"] <= scores[-1]
    assert not {r["row_id"] for r in page1["items"]} & {r["row_id"] for r in page2["items"]}
    # the blobs put the 20 anomalies first: the top rows are among them
    assert all(row["row_id"] < 20 and row["label"] == 1 for row in page1["items"])


def test_results_walk_every_row_by_row_id_and_filter_anomalies(alice_api, finished):
    rows, cursor = [], None
    while True:
        q = {"limit": 64, "order": "row_id", **({"cursor": cursor} if cursor else {})}
        page = alice_api.get(f"/runs/{finished.pk}/results", q).json()
        rows += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [r["row_id"] for r in rows] == list(range(200))
    flagged = alice_api.get(
        f"/runs/{finished.pk}/results", {"only_anomalies": "true", "limit": 500}
    ).json()
    assert flagged["next_cursor"] is None
    assert len(flagged["items"]) == sum(r["label"] for r in rows) == finished.summary["anomalies"]
    assert all(r["label"] == 1 for r in flagged["items"])


def test_a_cursor_from_another_ordering_is_refused(alice_api, finished):
    cursor = alice_api.get(f"/runs/{finished.pk}/results", {"limit": 5}).json()["next_cursor"]
    assert_problem(
        alice_api.get(f"/runs/{finished.pk}/results", {"order": "row_id", "cursor": cursor}), 400
    )


def test_results_of_an_unfinished_run_are_a_409(alice_api, alice, tenant_a, inputs):
    run = make_run(tenant_a, alice, *inputs)
    assert_problem(alice_api.get(f"/runs/{run.pk}/results"), 409)
    assert_problem(alice_api.get(f"/runs/{run.pk}/results/download"), 409)


def test_results_download_as_csv_and_parquet(alice_api, finished):
    r = alice_api.get(f"/runs/{finished.pk}/results/download", {"format": "csv"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert len(table) == 200 and {"row_id", "score", "predicted_anomaly"} <= set(table[0])
    r = alice_api.get(f"/runs/{finished.pk}/results/download", {"format": "parquet"})
    import pyarrow.parquet as pq

    assert pq.read_table(io.BytesIO(b"".join(r.streaming_content))).num_rows == 200
    assert_problem(alice_api.get(f"/runs/{finished.pk}/results/download", {"format": "xlsx"}), 422)


def test_trained_models_list_and_read(alice_api, vera_api, charlie_api, finished):
    model = TrainedModel.objects.get(run=finished)
    items = alice_api.get("/models").json()["items"]
    assert [m["id"] for m in items] == [model.pk]
    body = vera_api.get(f"/models/{model.pk}").json()
    assert (body["run_id"], body["detector_version"], body["input_columns"]) == (
        finished.pk,
        1,
        model.input_columns,
    )
    assert_problem(charlie_api.get(f"/models/{model.pk}"), 404)
    assert charlie_api.get("/models").json()["items"] == []


def test_scoring_needs_every_input_column_and_names_the_missing_one(alice_api, finished):
    model = TrainedModel.objects.get(run=finished)
    body = assert_problem(
        alice_api.post(f"/models/{model.pk}/score", json={"records": [{"a": 1, "b": 2}]}), 422
    )
    assert "'c'" in body["detail"] and body["errors"][0]["loc"] == ["body", "records", 0, "c"]
    assert_problem(alice_api.post(f"/models/{model.pk}/score", json={"records": []}), 422)
    too_many = [{"a": 0, "b": 0, "c": 0}] * 10_001
    assert_problem(alice_api.post(f"/models/{model.pk}/score", json={"records": too_many}), 422)


def test_a_stranger_cannot_score_with_another_tenants_model(charlie_api, finished):
    model = TrainedModel.objects.get(run=finished)
    assert_problem(charlie_api.post(f"/models/{model.pk}/score", json={"records": [{"a": 1}]}), 404)


def test_records_are_scored_synchronously_like_the_run_scored_them(
    alice_api, alice_read_api, finished
):
    model = TrainedModel.objects.get(run=finished)
    records = [{"a": 9.0, "b": 9.0, "c": 9.0}, {"a": 0.0, "b": 0.1, "c": -0.1}]
    r = alice_read_api.post(
        f"/models/{model.pk}/score", json={"records": records}
    )  # scoring writes nothing
    assert r.status_code == 200, r.content
    body = r.json()
    assert len(body["scores"]) == len(body["labels"]) == len(body["severity"]) == 2
    assert body["scores"][0] > body["scores"][1] and body["labels"] == [1, 0]
    assert body["threshold"] == pytest.approx(model.threshold)
    bad = alice_api.post(
        f"/models/{model.pk}/score", json={"records": [{"a": "text", "b": 1, "c": 2}]}
    )
    assert bad.status_code == 422


def test_a_bad_score_body_answers_a_problem_with_the_field_path(alice_api, finished):
    model = TrainedModel.objects.get(run=finished)
    url = f"/api/v1/models/{model.pk}/score"
    auth = {"Authorization": f"Bearer {alice_api.raw}"}
    body = assert_problem(
        alice_api.post(
            f"/models/{model.pk}/score", json={"records": [{"a": 1, "b": 2, "c": 3}, 7]}
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "records", 1]
    body = assert_problem(alice_api.post(f"/models/{model.pk}/score", json={"rows": []}), 422)
    assert body["errors"][0]["loc"] == ["body", "records"]
    assert_problem(alice_api.post(f"/models/{model.pk}/score", json=[{"a": 1}]), 422)
    body = assert_problem(
        alice_api.client.post(url, b"{not json", content_type="application/json", headers=auth), 400
    )
    assert "JSON" in body["detail"]
    assert_problem(
        alice_api.client.post(url, b"", content_type="application/json", headers=auth), 400
    )


def test_the_openapi_schema_documents_the_score_body(client):
    op = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/models/{model_id}/score"][
        "post"
    ]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert op["requestBody"]["required"] and body["required"] == ["records"]
    assert (
        body["properties"]["records"]["maxItems"] == 10_000
        and body["properties"]["records"]["minItems"] == 1
    )
    assert "200" in op["responses"]


def test_non_finite_scores_are_sent_as_null_never_as_invalid_json():
    import json

    from apps.api.routers.models import _json_response

    r = _json_response(
        {
            "scores": [1.5, float("nan")],
            "labels": [0, 1],
            "severity": [float("inf"), 0.5],
            "threshold": 0.5,
        }
    )
    assert r["Content-Type"] == "application/json"
    assert json.loads(r.content) == {
        "scores": [1.5, None],
        "labels": [0, 1],
        "severity": [None, 0.5],
        "threshold": 0.5,
    }


def test_the_cost_guard_refusal_carries_the_estimate(alice_api, alice, tenant_a):
    version = make_version(tenant_a, blobs(50), rows=200_000)
    knn = make_config(tenant_a, alice, name="knn", detectors=(("knn", {}),))
    start = {"dataset_version_id": version.pk, "detector_config_id": knn.pk}

    body = assert_problem(alice_api.post("/runs", json=start), 422)

    estimate = body["estimate"]
    assert body["errors"][0]["loc"] == ["body", "accept_cost"]
    assert estimate["detectors"] == [{"name": "KNN", "complexity": "quadratic"}]
    assert estimate["seconds"] > 600 and estimate["memory_mb"] > 100
    assert estimate["fit_rows"] == 200_000
    assert 2 <= estimate["suggested_max_fit_rows"] < 200_000
    assert estimate["suggested_detectors"] == ["iforest", "ecod", "hbos"]
    assert "KNN is quadratic" in body["detail"] and "Estimated cost: ≈" in body["detail"]
    assert not Run.objects.exists()
    sampled = {**start, "max_fit_rows": estimate["suggested_max_fit_rows"]}
    assert alice_api.post("/runs", json=sampled).status_code == 202
    assert alice_api.post("/runs", json={**start, "accept_cost": True}).status_code == 202
