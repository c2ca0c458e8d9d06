"""Deep detectors through the runs task (in-process): epochs beside the progress bar, the
device on the run page and API, a saved model that reloads, fine-tuning from it."""

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.detectors.models import TrainedModel
from apps.runs import services
from apps.runs.models import Run
from apps.runs.tasks import execute_run

from .factories import blobs, make_config, make_run, make_version

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture(autouse=True)
def _no_explanations(settings):
    # explaining the flagged rows calls the network thousands of times: not under test here
    settings.RUN_EXPLAIN_MAX_ROWS = 0


AE = (("autoencoder", {"epoch_num": 2}),)


def test_a_deep_run_records_each_epoch_its_device_and_a_reloadable_model(
    alice, tenant_a, monkeypatch
):
    seen: list[dict] = []
    real = services.record_training_progress

    def spy(*, run, detail):
        seen.append(dict(detail))
        return real(run=run, detail=detail)

    monkeypatch.setattr(services, "record_training_progress", spy)
    monkeypatch.setenv("PYNOMALY_DEVICE", "cpu")
    version = make_version(tenant_a, blobs(300))
    run = make_run(
        tenant_a,
        alice,
        version,
        make_config(tenant_a, alice, detectors=AE),
        label_column="is_anomaly",
    )

    execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert [d["epoch"] for d in seen] == [1, 2] and all(d["epochs"] == 2 for d in seen)
    assert run.progress_detail["epoch"] == 2 and run.progress_detail["epochs"] == 2
    assert run.device == "cpu"
    assert run.metrics["roc_auc"] > 0.9
    model = TrainedModel.objects.get(run=run)  # saved (torch state inside), not skipped
    from apps.common.storage import local_path
    from pynomaly import persist

    with local_path(model.artifact) as path:
        assert persist.load(path, sha256=model.sha256).keys == ["autoencoder"]


def test_the_run_page_shows_the_epoch_the_loss_and_the_device(alice, alice_client, tenant_a):
    version = make_version(tenant_a, blobs(50))
    run = make_run(tenant_a, alice, version, make_config(tenant_a, alice, detectors=AE))
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING,
        stage=Run.Stage.FITTING,
        device="cpu",
        progress_detail={"epoch": 3, "epochs": 10, "loss": 0.1234, "eta_seconds": 42},
    )

    page = alice_client.get(
        reverse("runs:detail", kwargs={"tenant_slug": tenant_a.slug, "run_id": run.pk})
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="run-epoch"' in html and "Epoch 3 / 10" in html
    assert "loss 0.1234" in html and "about 42 s of training left" in html
    assert 'id="run-device"' in html and ">cpu<" in html


def test_a_fine_tuned_run_starts_from_the_base_model_and_says_so(alice, alice_client, tenant_a):
    version = make_version(tenant_a, blobs(300))
    config = make_config(tenant_a, alice, detectors=AE)
    base_run = make_run(tenant_a, alice, version, config)
    execute_run(base_run.pk)
    base = TrainedModel.objects.get(run=base_run)

    run = services.run_start(
        tenant=tenant_a,
        user=alice,
        dataset_version=version,
        detector_version=config.current,
        base_model=base,
    )
    execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.base_model_id == base.pk
    started = AuditEvent.objects.get(action="run.started", target_id=str(run.pk))
    assert started.details["base_model"] == base.pk
    page = alice_client.get(
        reverse("runs:detail", kwargs={"tenant_slug": tenant_a.slug, "run_id": run.pk})
    )
    assert f"model #{base.pk}" in page.content.decode()


def test_fine_tuning_from_another_detector_is_refused_with_a_message(alice, tenant_a):
    version = make_version(tenant_a, blobs(200))
    base_run = make_run(tenant_a, alice, version, make_config(tenant_a, alice))  # IForest
    execute_run(base_run.pk)
    base = TrainedModel.objects.get(run=base_run)

    with pytest.raises(services.RunStateError, match="same detector"):
        services.run_start(
            tenant=tenant_a,
            user=alice,
            dataset_version=version,
            detector_version=make_config(tenant_a, alice, name="ae", detectors=AE).current,
            base_model=base,
        )


def test_the_run_form_offers_fine_tunable_models_and_starts_from_one(
    alice, alice_client, tenant_a, monkeypatch
):
    from apps.runs import tasks

    version = make_version(tenant_a, blobs(300))
    config = make_config(tenant_a, alice, detectors=AE)
    ae_run = make_run(tenant_a, alice, version, config)
    execute_run(ae_run.pk)
    forest_run = make_run(tenant_a, alice, version, make_config(tenant_a, alice, name="f"))
    execute_run(forest_run.pk)
    ae_model = TrainedModel.objects.get(run=ae_run)
    forest_model = TrainedModel.objects.get(run=forest_run)
    monkeypatch.setattr(tasks.execute_run, "apply_async", lambda args, task_id: None)
    url = reverse("runs:start", kwargs={"tenant_slug": tenant_a.slug})

    page = alice_client.get(url).content.decode()
    import re

    select = re.search(r'<select name="base_model".*?</select>', page, re.S).group(0)
    assert f'value="{ae_model.pk}"' in select and f'value="{forest_model.pk}"' not in select

    refused = alice_client.post(
        url, {"dataset_version": version.pk, "detector": config.pk, "base_model": forest_model.pk}
    )
    assert refused.status_code == 400 and not Run.objects.filter(base_model=forest_model)

    started = alice_client.post(
        url, {"dataset_version": version.pk, "detector": config.pk, "base_model": ae_model.pk}
    )
    assert started.status_code == 302
    assert Run.objects.get(base_model=ae_model).detector_version == config.current
