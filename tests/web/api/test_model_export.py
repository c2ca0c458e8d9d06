"""GET /api/v1/models/{id}/export?format=onnx: the trained model as an .onnx attachment."""

from __future__ import annotations

import pytest

from apps.detectors.models import TrainedModel
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from tests.web.runs.factories import blobs, make_config, make_version

from .conftest import assert_problem


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)


def trained(api, tenant, user, detector: str) -> TrainedModel:
    version = make_version(tenant, blobs(200), user=user)
    config = make_config(tenant, user, name=detector, detectors=((detector, {}),))
    r = api.post(
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
    return TrainedModel.objects.get(run=run)


def test_an_iforest_model_downloads_as_onnx_that_scores_like_the_platform(
    alice_api, alice_read_api, alice, tenant_a
):
    from pynomaly_edge import EdgeModel

    model = trained(alice_api, tenant_a, alice, "iforest")
    r = alice_read_api.get(f"/models/{model.pk}/export", {"format": "onnx"})

    assert r.status_code == 200, r.content[:300]
    assert r["Content-Type"] == "application/octet-stream"
    assert r["Content-Disposition"] == f'attachment; filename="model-{model.pk}.onnx"'
    # the edge scorer reads the file and scores raw records as the platform's API does
    records = [{"a": 9.0, "b": 9.0, "c": 9.0}, {"a": 0.0, "b": 0.1, "c": -0.1}]
    platform = alice_api.post(f"/models/{model.pk}/score", json={"records": records}).json()
    got = EdgeModel(r.content).score(records)
    assert [g["score"] for g in got] == pytest.approx(platform["scores"], rel=1e-4, abs=1e-5)
    assert [g["anomaly"] for g in got] == [bool(v) for v in platform["labels"]] == [True, False]


def test_a_model_without_a_converter_is_a_409_naming_the_reason(alice_api, alice, tenant_a):
    model = trained(alice_api, tenant_a, alice, "knn")
    body = assert_problem(alice_api.get(f"/models/{model.pk}/export"), 409)
    assert "no ONNX converter for detector 'knn'" in body["detail"]


def test_an_unknown_format_is_a_422_and_another_workspace_gets_404(
    alice_api, charlie_api, alice, tenant_a
):
    model = trained(alice_api, tenant_a, alice, "iforest")
    assert_problem(alice_api.get(f"/models/{model.pk}/export", {"format": "pmml"}), 422)
    assert_problem(charlie_api.get(f"/models/{model.pk}/export"), 404)
    assert_problem(alice_api.get("/models/999999/export"), 404)
