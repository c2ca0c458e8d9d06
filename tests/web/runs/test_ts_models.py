"""Trained time-series models in the browser: the run page names the model a time-series run
saved, and the run form scores another dataset version with it (no fit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from django.urls import reverse

from apps.detectors.models import TrainedModel
from apps.runs import selectors
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from pynomaly import demo_timeseries

from .factories import make_config, make_run, make_version

pytestmark = pytest.mark.usefixtures("media")
OPTIONS = {"time_column": "timestamp", "value_columns": ["temperature"], "id_column": "sensor"}


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)


def _fleet() -> pd.DataFrame:
    df = demo_timeseries.sensor_fleet(points=120)
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df


@pytest.fixture
def trained(tenant_a, alice) -> Run:
    version = make_version(tenant_a, _fleet(), time_column="timestamp", user=alice)
    config = make_config(
        tenant_a, alice, name="sr", detectors=(("spectralresidual", {}),),
        threshold=("contamination", 0.03),
    )  # fmt: skip
    run = make_run(
        tenant_a, alice, version, config, analysis=Run.Analysis.TIMESERIES, analysis_options=OPTIONS
    )
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    return run


def _start(client, tenant, **data):
    return client.post(reverse("runs:start", kwargs={"tenant_slug": tenant.slug}), data)


def test_the_run_page_names_the_model_a_time_series_run_saved(alice_client, trained):
    model = TrainedModel.objects.get(run=trained)

    html = alice_client.get(trained.url()).content.decode()

    assert 'id="run-trained-model"' in html and f"Trained model #{model.pk}" in html
    assert f"?scoring_model={model.pk}" in html
    assert model.input_columns == ["timestamp", "temperature", "sensor"]
    assert model.artifact.name.endswith(".npz")


def test_the_form_scores_another_version_with_the_model_and_gets_the_same_scores(
    alice_client, tenant_a, alice, trained
):
    model = TrainedModel.objects.get(run=trained)
    again = make_version(tenant_a, _fleet(), time_column="timestamp", user=alice)
    form = alice_client.get(
        reverse("runs:start", kwargs={"tenant_slug": tenant_a.slug}), {"scoring_model": model.pk}
    ).content.decode()
    assert "Or score with a trained model" in form

    response = _start(alice_client, tenant_a, dataset_version=again.pk, scoring_model=model.pk)

    assert response.status_code == 302, response.content.decode()[:3000]
    scored = Run.objects.exclude(pk=trained.pk).get()
    assert scored.scoring_model == model and scored.analysis == Run.Analysis.TIMESERIES
    assert scored.detector_version == trained.detector_version
    execute_run(scored.pk)
    scored.refresh_from_db()
    assert scored.status == Run.Status.SUCCEEDED, scored.error
    np.testing.assert_allclose(selectors.scores(scored), selectors.scores(trained), atol=1e-9)
    assert not TrainedModel.objects.filter(run=scored).exists()
    assert scored.summary["fit_rows"] == trained.summary["fit_rows"] == 480  # the model's
    html = alice_client.get(scored.url()).content.decode()
    assert 'id="run-scoring-model"' in html and f"model #{model.pk} (no fit)" in html


def test_scoring_a_dataset_without_the_time_column_is_a_form_error(
    alice_client, tenant_a, alice, trained
):
    model = TrainedModel.objects.get(run=trained)
    other = make_version(tenant_a, _fleet().drop(columns=["timestamp"]), user=alice)

    response = _start(alice_client, tenant_a, dataset_version=other.pk, scoring_model=model.pk)

    assert response.status_code == 400
    assert "reads column &#x27;timestamp&#x27;" in response.content.decode()
    assert Run.objects.count() == 1


def test_the_form_needs_a_detector_or_a_model(alice_client, tenant_a, trained):
    response = _start(alice_client, tenant_a, dataset_version=trained.dataset_version_id)

    assert response.status_code == 400
    assert "Choose a detector configuration or a trained model." in response.content.decode()


def test_a_stranger_cannot_score_with_the_model_nor_see_its_run(
    charlie_client, tenant_b, charlie, trained
):
    model = TrainedModel.objects.get(run=trained)
    own = make_version(tenant_b, _fleet(), time_column="timestamp", user=charlie)

    response = _start(charlie_client, tenant_b, dataset_version=own.pk, scoring_model=model.pk)

    assert response.status_code == 400  # not one of the choices of charlie's workspace
    assert not Run.objects.filter(tenant=tenant_b).exists()
    assert charlie_client.get(trained.url()).status_code == 404
