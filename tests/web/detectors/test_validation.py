"""One validation for a detector configuration: the service decides, the form and the API map."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.api.services import token_create
from apps.detectors.services import ConfigInvalid, detector_config_validate
from tests.web.runs.factories import make_config

from .test_configs import _form

KNN_BAD = {
    "detectors": [{"key": "iforest", "params": {}}, {"key": "knn", "params": {"n_neighbors": -3}}]
}


def test_every_broken_rule_comes_back_with_its_path(tenant_a, alice):
    make_config(tenant_a, alice, name="Forest")

    with pytest.raises(ConfigInvalid) as caught:
        detector_config_validate(tenant=tenant_a, name="forest", pipeline=KNN_BAD)

    paths = [path for path, _ in caught.value.errors]
    assert paths == [("name",), ("pipeline", "detectors", 1, "params", "n_neighbors")]


def test_a_configuration_keeps_its_own_name_and_gets_its_pipeline_back(tenant_a, alice):
    config = make_config(tenant_a, alice, name="Forest")
    pipeline = {"detectors": [{"key": "iforest", "params": {"n_estimators": "30"}}]}

    built = detector_config_validate(
        tenant=tenant_a, name="Forest", pipeline=pipeline, config=config
    )

    assert built["detectors"][0]["key"] == "iforest"
    assert built["detectors"][0]["params"]["n_estimators"] == 30  # coerced from the text
    assert built["threshold"] == {"kind": "contamination", "value": 0.1}


def test_the_form_and_the_api_give_the_same_message_for_the_same_rule(
    alice_client, alice, tenant_a
):
    url = reverse("detectors:config_create", kwargs={"tenant_slug": tenant_a.slug})
    form = alice_client.post(url, _form(iforest__n_estimators="0")).context["form"]
    _token, raw = token_create(user=alice, tenant=tenant_a, name="t", scope="write")
    api = Client().post(
        "/api/v1/detector-configs",
        {
            "name": "Forest",
            "pipeline": {"detectors": [{"key": "iforest", "params": {"n_estimators": 0}}]},
        },
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )

    assert api.status_code == 422
    error = api.json()["errors"][0]
    assert error["loc"] == ["body", "pipeline", "detectors", 0, "params", "n_estimators"]
    assert form.errors["iforest__n_estimators"] == [error["msg"]]
