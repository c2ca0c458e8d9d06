"""The start rules live in one service; the browser form and the API only map its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from apps.runs.rules import RunInvalid, run_start_check

from .factories import make_config, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def inputs(tenant_a, alice):
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)), columns=["a", "b", "c"])
    df["ts"] = pd.date_range("2026-01-01", periods=50, freq="min")
    version = make_version(tenant_a, df, time_column="ts", rows=500_000, user=alice)
    return version, make_config(tenant_a, alice, name="knn", detectors=(("knn", {}),))


def test_it_names_a_label_column_the_dataset_does_not_have(inputs):
    version, config = inputs
    with pytest.raises(RunInvalid) as caught:
        run_start_check(
            dataset_version=version,
            detector_version=config.current,
            label_column="ts",
            max_fit_rows=1000,
        )
    assert caught.value.errors == [("label_column", "The dataset has no label column 'ts'.")]


def test_it_refuses_a_heavy_run_with_its_estimate_until_the_cost_is_accepted(inputs):
    version, config = inputs
    with pytest.raises(RunInvalid) as caught:
        run_start_check(dataset_version=version, detector_version=config.current)
    assert [field for field, _ in caught.value.errors] == ["accept_cost"]
    assert caught.value.estimate.heavy and caught.value.estimate.suggested_max_fit_rows
    cost = run_start_check(
        dataset_version=version, detector_version=config.current, accept_cost=True
    )
    assert cost.heavy


def test_a_fit_sample_makes_the_same_run_acceptable(inputs):
    version, config = inputs
    with pytest.raises(RunInvalid) as caught:
        run_start_check(dataset_version=version, detector_version=config.current)
    sample = caught.value.estimate.suggested_max_fit_rows
    cost = run_start_check(
        dataset_version=version, detector_version=config.current, max_fit_rows=sample
    )
    assert not cost.heavy


def test_the_form_shows_the_services_errors_on_its_fields(inputs, tenant_a):
    from apps.runs.forms import StartRunForm

    version, config = inputs
    form = StartRunForm(
        {"dataset_version": version.pk, "detector": config.pk, "label_column": ""},
        tenant=tenant_a,
    )
    assert not form.is_valid()
    assert "expensive" in form.errors["accept_cost"][0]


def test_it_refuses_anogan_on_many_rows_for_its_per_row_query_even_with_one_epoch(tenant_a, alice):
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)), columns=["a", "b", "c"])
    version = make_version(tenant_a, df, rows=50_000, user=alice)
    one_epoch = {"epochs": 1, "epochs_query": 20}
    config = make_config(tenant_a, alice, name="anogan", detectors=(("anogan", one_epoch),))
    with pytest.raises(RunInvalid) as caught:
        run_start_check(dataset_version=version, detector_version=config.current)
    assert [field for field, _ in caught.value.errors] == ["accept_cost"]
    assert "AnoGAN optimises a latent point for every row" in caught.value.estimate.warnings[0]
    # a fit sample of 1,000 rows is affordable
    run_start_check(dataset_version=version, detector_version=config.current, max_fit_rows=1000)
