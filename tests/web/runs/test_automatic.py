"""Automatic detector selection and training labels in the browser and over the API."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.detectors.models import DetectorConfig, TrainedModel
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from tests.web.api.conftest import Api, assert_problem, make_token

from .factories import blobs, make_config, make_run, make_version

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)


def _with_known(rows: int = 300, anomalies: int = 20, *, bad: bool = False):
    """Blobs with a partial training label column ``known`` (8 anomalies, 60 normals)."""
    df = blobs(rows, anomalies=anomalies)
    known = np.full(rows, "", dtype=object)
    known[:8] = "1"
    known[100:160] = "0"
    if bad:
        known[5] = "yes"
    df["known"] = known
    return df


@pytest.fixture
def alice_api(alice, tenant_a):
    return Api(make_token(alice, tenant_a)[1])


@pytest.fixture
def version(tenant_a, alice):
    return make_version(tenant_a, _with_known(), user=alice)


def test_an_api_run_with_auto_and_training_labels_chooses_explains_and_saves_a_model(
    alice_api, tenant_a, version
):
    r = alice_api.post(
        "/runs",
        json={
            "dataset_version_id": version.pk,
            "detector": "auto",
            "train_labels": "known",
            "label_column": "is_anomaly",
        },
    )
    assert r.status_code == 202, r.content
    execute_run(r.json()["id"])
    run = Run.objects.get(pk=r.json()["id"])
    assert run.status == "succeeded", run.error

    body = alice_api.get(f"/runs/{run.pk}").json()
    selection = body["selection"]
    assert selection["mode"] == "labelled"
    assert selection["labels"] == {"anomalies": 8, "normals": 60, "unknown": 232}
    assert selection["headline"].startswith("Chosen: ")
    assert body["train_label_column"] == "known"
    assert "known" not in body["summary"]["feature_names"]  # labels are not a feature
    check = body["summary"]["threshold_check"]
    assert {"flagged_share", "expected_share", "warning", "suggested"} <= set(check)
    assert check["suggested"]["f1"] > 0.5
    assert body["metrics"]["roc_auc"] > 0.95
    assert TrainedModel.objects.filter(run=run).exists()

    config = DetectorConfig.objects.for_tenant(tenant_a).get(pk=body["detector_config_id"])
    assert config.current.detector_keys == ["auto"]
    again = alice_api.post("/runs", json={"dataset_version_id": version.pk, "detector": "auto"})
    assert again.json()["detector_config_id"] == config.pk  # created once, then reused
    assert AuditEvent.objects.filter(action="detector.created").count() == 1


def test_the_api_names_bad_training_label_fields(alice, alice_api, tenant_a, version):
    body = assert_problem(
        alice_api.post(
            "/runs",
            json={"dataset_version_id": version.pk, "detector": "auto", "train_labels": "nope"},
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "train_labels"]
    forest = make_config(tenant_a, alice)
    body = assert_problem(
        alice_api.post(
            "/runs",
            json={
                "dataset_version_id": version.pk,
                "detector_config_id": forest.pk,
                "train_labels": "known",
            },
        ),
        422,
    )
    assert "Automatic detector and DevNet only" in body["errors"][0]["msg"]
    body = assert_problem(
        alice_api.post(
            "/runs",
            json={
                "dataset_version_id": version.pk,
                "detector_config_id": forest.pk,
                "detector": "auto",
            },
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "detector_config_id"]
    assert not Run.objects.exists()


def test_a_training_label_column_with_other_values_fails_the_run_with_the_reason(alice, tenant_a):
    from apps.detectors.services import detector_config_automatic

    version = make_version(tenant_a, _with_known(bad=True), user=alice)
    config = detector_config_automatic(tenant=tenant_a, user=alice)
    run = make_run(tenant_a, alice, version, config, train_label_column="known")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "'known' must hold 1 (anomaly), 0 (normal) or nothing" in run.error
    assert "'yes'" in run.error


def test_the_run_form_offers_automatic_and_starts_it_with_training_labels(
    alice_client, tenant_a, version
):
    url = reverse("runs:start", kwargs={"tenant_slug": tenant_a.slug})
    page = alice_client.get(url, {"dataset_version": version.pk}).content.decode()
    assert 'value="auto"' in page and "Automatic — Pynomaly chooses" in page
    assert 'name="train_label_column"' in page

    r = alice_client.post(
        url,
        {"dataset_version": version.pk, "detector": "auto", "train_label_column": "known"},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    run = Run.objects.get()
    assert run.train_label_column == "known"
    assert run.detector_version.detector_keys == ["auto"]

    execute_run(run.pk)
    detail = alice_client.get(run.url()).content.decode()
    assert "Automatic selection" in detail and "Chosen: " in detail
    assert "Also considered" in detail and "DevNet" in detail
    assert 'id="threshold-check"' in detail


def test_the_run_form_refuses_training_labels_with_a_field_error(
    alice, alice_client, tenant_a, version
):
    url = reverse("runs:start", kwargs={"tenant_slug": tenant_a.slug})
    forest = make_config(tenant_a, alice)
    r = alice_client.post(
        url, {"dataset_version": version.pk, "detector": forest.pk, "train_label_column": "known"}
    )
    assert r.status_code == 400
    assert "Automatic detector and DevNet only" in r.content.decode()
    r = alice_client.post(
        url,
        {
            "dataset_version": version.pk,
            "detector": "auto",
            "train_label_column": "known",
            "label_column": "known",
        },
    )
    assert r.status_code == 400
    assert "different column for training" in r.content.decode()
    assert not Run.objects.exists()


def test_the_automatic_threshold_warning_shows_on_the_run_page(alice, alice_client, tenant_a):
    rng = np.random.default_rng(4)
    df = blobs(2000, anomalies=20, label=False)
    df[["a", "b", "c"]] = rng.normal(size=(2000, 3))
    df.loc[:19, ["a", "b", "c"]] += 6
    version = make_version(tenant_a, df, user=alice)
    config = make_config(tenant_a, alice, detectors=(("ecod", {}),), threshold=("auto", None))
    run = make_run(tenant_a, alice, version, config)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.summary["threshold_check"]["warning"], run.summary["threshold_check"]
    page = alice_client.get(run.url()).content.decode()
    assert 'id="threshold-warning"' in page and "automatic threshold flags" in page
