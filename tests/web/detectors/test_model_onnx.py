"""The "Download ONNX" button of a run's trained model and its view (detectors:model_onnx)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.detectors.models import TrainedModel
from pynomaly import persist
from tests.web.detectors.test_scoring import records, train, training_frame
from tests.web.runs.factories import make_config, make_run, make_version


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def trained(tenant, user, media, key: str, params: dict | None = None) -> TrainedModel:
    """A succeeded run of a ``key`` configuration with its saved model, as a run leaves them."""
    fitted = train(key, params)
    relative = f"models/test/{key}.skops"
    (media / relative).parent.mkdir(parents=True, exist_ok=True)
    digest = persist.save(fitted, media / relative)
    config = make_config(tenant, user, name=f"cfg-{key}", detectors=((key, params or {}),))
    run = make_run(tenant, user, make_version(tenant, training_frame()), config, status="succeeded")
    return TrainedModel.objects.create(
        tenant=tenant, run=run, detector_version=config.current, artifact=relative,
        sha256=digest, feature_names=list(fitted.feature_names),
        input_columns=list(fitted.preparer.input_columns), threshold=float(fitted.threshold_),
    )  # fmt: skip


def _url(model: TrainedModel, slug: str | None = None) -> str:
    return reverse(
        "detectors:model_onnx",
        kwargs={"tenant_slug": slug or model.tenant.slug, "model_id": model.pk},
    )


def _run_page(client, model: TrainedModel) -> str:
    url = reverse("runs:detail", kwargs={"tenant_slug": model.tenant.slug, "run_id": model.run_id})
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_viewer_downloads_the_onnx_of_an_iforest_model_from_its_run_page(
    vera_client, tenant_a, alice, media
):
    from pynomaly_edge import EdgeModel

    model = trained(tenant_a, alice, media, "iforest")
    html = _run_page(vera_client, model)
    assert 'id="onnx-download"' in html and f'href="{_url(model)}"' in html

    response = vera_client.get(_url(model))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="model-{model.pk}.onnx"'
    fitted = persist.load(media / model.artifact.name, sha256=model.sha256)
    batch = records(20)
    got = [r["score"] for r in EdgeModel(response.content).score(batch)]
    import pandas as pd

    assert got == pytest.approx(
        fitted.score(pd.DataFrame(batch)).scores.tolist(), rel=1e-4, abs=1e-5
    )


def test_a_deep_autoencoder_model_has_the_button_and_its_onnx_scores_like_the_platform(
    alice_client, tenant_a, alice, media
):
    import pandas as pd
    from pynomaly_edge import EdgeModel

    pytest.importorskip("torch")
    model = trained(tenant_a, alice, media, "autoencoder", {"epoch_num": 2})
    html = _run_page(alice_client, model)
    assert 'id="onnx-download"' in html and f'href="{_url(model)}"' in html

    response = alice_client.get(_url(model))

    assert response.status_code == 200
    fitted = persist.load(media / model.artifact.name, sha256=model.sha256)
    batch = records(20)
    got = [r["score"] for r in EdgeModel(response.content).score(batch)]
    expected = fitted.score(pd.DataFrame(batch)).scores
    assert max(abs(g - e) for g, e in zip(got, expected, strict=True)) <= 1e-4 * max(
        float(expected.max() - expected.min()), float(abs(expected).max())
    )


def test_a_vae_model_has_no_button_and_its_url_is_a_409_that_says_why(
    alice_client, tenant_a, alice, media
):
    pytest.importorskip("torch")
    model = trained(tenant_a, alice, media, "vae", {"epoch_num": 2})
    assert 'id="onnx-download"' not in _run_page(alice_client, model)

    response = alice_client.get(_url(model))

    assert response.status_code == 409
    assert "samples its latent code" in response.content.decode()


def test_a_model_without_a_converter_has_no_button_and_its_url_is_a_409(
    alice_client, tenant_a, alice, media
):
    model = trained(tenant_a, alice, media, "knn")
    assert 'id="onnx-download"' not in _run_page(alice_client, model)

    response = alice_client.get(_url(model))

    assert response.status_code == 409
    assert "no ONNX converter for detector 'knn'" in response.content.decode()


def test_another_workspace_gets_404_for_the_model(charlie_client, tenant_a, tenant_b, alice, media):
    model = trained(tenant_a, alice, media, "iforest")
    assert charlie_client.get(_url(model, slug=tenant_b.slug)).status_code == 404
    assert charlie_client.get(_url(model)).status_code == 404
