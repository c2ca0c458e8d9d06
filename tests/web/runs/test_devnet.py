"""DevNet, the semi-supervised deep detector: a configuration may hold it, and a run of it
needs a training label column (form error / 422 without one)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.detectors.models import TrainedModel
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from tests.web.api.conftest import Api, assert_problem, make_token

from .factories import make_config, make_version
from .test_automatic import _with_known

pytestmark = pytest.mark.usefixtures("media")
DEVNET = {
    "detectors": [{"key": "devnet", "params": {"epochs": 2, "batch_size": 64, "nb_batch": 4}}]
}


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)


@pytest.fixture
def alice_api(alice, tenant_a):
    return Api(make_token(alice, tenant_a)[1])


@pytest.fixture
def version(tenant_a, alice):
    return make_version(tenant_a, _with_known(), user=alice)


def test_an_api_devnet_run_needs_training_labels_and_learns_from_them(alice_api, version):
    made = alice_api.post("/detector-configs", json={"name": "devnet", "pipeline": DEVNET})
    assert made.status_code == 201, made.content
    config_id = made.json()["id"]

    body = assert_problem(
        alice_api.post(
            "/runs", json={"dataset_version_id": version.pk, "detector_config_id": config_id}
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "train_labels"]
    assert "DevNet learns from labelled anomalies" in body["errors"][0]["msg"]
    assert not Run.objects.exists()

    r = alice_api.post(
        "/runs",
        json={
            "dataset_version_id": version.pk,
            "detector_config_id": config_id,
            "train_labels": "known",
            "label_column": "is_anomaly",
        },
    )
    assert r.status_code == 202, r.content
    execute_run(r.json()["id"])
    run = Run.objects.get(pk=r.json()["id"])
    assert run.status == "succeeded", run.error
    assert run.summary["train_labels"]["anomalies"] == 8
    assert run.metrics["roc_auc"] > 0.8
    assert TrainedModel.objects.filter(run=run).exists()


def test_the_forms_offer_devnet_and_the_run_form_asks_for_labels(
    alice, alice_client, tenant_a, version
):
    create = reverse("detectors:config_create", kwargs={"tenant_slug": tenant_a.slug})
    assert 'value="devnet"' in alice_client.get(create).content.decode()
    config = make_config(tenant_a, alice, name="devnet", detectors=(("devnet", {"epochs": 2}),))

    url = reverse("runs:start", kwargs={"tenant_slug": tenant_a.slug})
    r = alice_client.post(url, {"dataset_version": version.pk, "detector": config.pk})
    assert r.status_code == 400
    assert "DevNet learns from labelled anomalies" in r.content.decode()
    assert not Run.objects.exists()

    r = alice_client.post(
        url, {"dataset_version": version.pk, "detector": config.pk, "train_label_column": "known"}
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    assert Run.objects.get().train_label_column == "known"
