"""Deep runs over the API: fine-tuning from a model (base_model_id), epochs and device in
the run's state, refusals as problem+json."""

from apps.detectors.models import TrainedModel
from apps.runs.tasks import execute_run
from tests.web.runs.factories import blobs, make_config, make_run, make_version

AE = (("autoencoder", {"epoch_num": 2}),)


def test_the_api_starts_a_fine_tuned_run_and_reports_epochs_and_device(alice, tenant_a, alice_api):
    version = make_version(tenant_a, blobs(300))
    config = make_config(tenant_a, alice, detectors=AE)
    base_run = make_run(tenant_a, alice, version, config)
    execute_run(base_run.pk)
    base = TrainedModel.objects.get(run=base_run)

    r = alice_api.post(
        "/runs",
        json={
            "dataset_version_id": version.pk,
            "detector_config_id": config.pk,
            "base_model_id": base.pk,
        },
    )

    assert r.status_code == 202, r.content
    body = r.json()
    assert body["base_model_id"] == base.pk
    execute_run(body["id"])
    got = alice_api.get(f"/runs/{body['id']}").json()
    assert got["status"] == "succeeded", got["error"]
    assert got["device"] == "cpu"
    assert got["progress_detail"]["epochs"] == 2


def test_the_api_refuses_a_base_model_of_another_detector(alice, tenant_a, alice_api):
    version = make_version(tenant_a, blobs(200))
    base_run = make_run(tenant_a, alice, version, make_config(tenant_a, alice))
    execute_run(base_run.pk)
    base = TrainedModel.objects.get(run=base_run)
    config = make_config(tenant_a, alice, name="ae", detectors=AE)

    r = alice_api.post(
        "/runs",
        json={
            "dataset_version_id": version.pk,
            "detector_config_id": config.pk,
            "base_model_id": base.pk,
        },
    )

    assert r.status_code == 422
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert "same detector" in r.json()["detail"]


def test_a_base_model_of_another_workspace_is_not_found(
    alice, tenant_a, charlie, tenant_b, alice_api
):
    version_b = make_version(tenant_b, blobs(200))
    base_run = make_run(tenant_b, charlie, version_b, make_config(tenant_b, charlie))
    execute_run(base_run.pk)
    base = TrainedModel.objects.get(run=base_run)
    version = make_version(tenant_a, blobs(200))
    config = make_config(tenant_a, alice, name="ae", detectors=AE)

    r = alice_api.post(
        "/runs",
        json={
            "dataset_version_id": version.pk,
            "detector_config_id": config.pk,
            "base_model_id": base.pk,
        },
    )

    assert r.status_code == 404
