"""Explanations over the API and the SDK: attributions, importance, segments, one row."""

from __future__ import annotations

import pytest

from apps.runs import selectors
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from tests.web.runs.factories import make_config, make_run, make_version
from tests.web.runs.test_explanations import PLANTED, planted

from .conftest import assert_problem


@pytest.fixture(autouse=True)
def _empty_cache():
    selectors._cache.clear()
    yield
    selectors._cache.clear()


@pytest.fixture
def explained(alice, tenant_a):
    version = make_version(tenant_a, planted(), user=alice)
    config = make_config(
        tenant_a, alice, detectors=(("knn", {}),), threshold=("contamination", PLANTED / 400)
    )
    run = make_run(tenant_a, alice, version, config)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    return run


def test_the_explanations_endpoint_gives_method_importance_segments_and_rows(alice_api, explained):
    body = alice_api.get(f"/runs/{explained.pk}/explanations", {"top": 2}).json()
    assert body["method"] == "sampling_shap" and "Shapley" in body["method_label"]
    assert body["rows"] == PLANTED and len(body["items"]) == PLANTED and body["error"] is None
    assert body["importance"][0]["feature"] == "b"
    assert body["segments"][0]["column"] == "region" and body["segments"][0]["value"] == "north"
    first = body["items"][0]
    assert len(first["attributions"]) == 2 and first["attributions"][0]["feature"] == "b"
    assert first["score"] == max(item["score"] for item in body["items"])


def test_result_rows_carry_their_attributed_reasons(alice_api, explained):
    page = alice_api.get(f"/runs/{explained.pk}/results", {"limit": 20}).json()["items"]
    explained_rows = [r for r in page if r["reasons"]]
    assert len(explained_rows) == PLANTED
    assert all(r["reasons"][0]["feature"] == "b" for r in explained_rows)
    assert all(r["reasons"] is None for r in page if r["label"] == 0)


def test_a_row_endpoint_returns_values_and_the_waterfall_numbers(alice_api, explained):
    body = alice_api.get(f"/runs/{explained.pk}/rows/0").json()
    assert body["label"] == 1 and body["values"]["region"] == "north"
    assert body["method"] == "sampling_shap"
    ex = body["explanation"]
    total = ex["base_value"] + sum(a["value"] for a in ex["attributions"])
    assert total == pytest.approx(ex["output"], rel=1e-6)
    quiet = alice_api.get(f"/runs/{explained.pk}/rows/{PLANTED + 50}").json()
    assert quiet["explanation"] is None and quiet["reasons_kind"] == "z-score"
    assert_problem(alice_api.get(f"/runs/{explained.pk}/rows/99999"), 404)


def test_strangers_get_404_and_unfinished_runs_409(
    alice, tenant_a, alice_api, charlie_api, explained
):
    assert_problem(charlie_api.get(f"/runs/{explained.pk}/explanations"), 404)
    assert_problem(charlie_api.get(f"/runs/{explained.pk}/rows/0"), 404)
    queued = make_run(tenant_a, alice, explained.dataset_version, explained.detector_version.config)
    assert_problem(alice_api.get(f"/runs/{queued.pk}/explanations"), 409)
