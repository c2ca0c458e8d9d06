"""Comparison, leaderboard and bake-off over the API."""

from __future__ import annotations

import numpy as np
import pytest

from apps.detectors.models import DetectorConfig
from apps.runs.models import Run
from tests.web.runs.test_results_fixtures import (  # noqa: F401
    make_detector,
    make_run,
    make_version,
    results_env,
)

from .conftest import assert_problem


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)


@pytest.fixture
def labelled(tenant_a):
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.1).astype(int)
    version = make_version(tenant_a, {"x": rng.normal(size=400), "y": y})
    weak = make_run(
        tenant_a, version, rng.normal(size=400) + 0.3 * y, threshold=1.5, label_column="y"
    )
    strong = make_run(
        tenant_a, version, rng.normal(size=400) + 3 * y, threshold=1.5, label_column="y"
    )
    return version, weak, strong


def test_comparing_two_runs_gives_intervals_tests_and_the_sentence(alice_api, labelled):
    version, weak, strong = labelled

    r = alice_api.get("/runs/compare", {"a": weak.pk, "b": strong.pk})

    assert r.status_code == 200, r.content
    body = r.json()
    assert body["labelled"] is True and body["truth_source"] == "the label column “y”"
    assert body["sentence"].startswith(f"B (#{strong.pk}) is better than A (#{weak.pk}) on ROC-AUC")
    auc = body["roc_auc"]
    assert auc["test"]["method"] == "DeLong" and auc["test"]["p_value"] < 0.001
    assert auc["b"]["low"] < auc["b"]["value"] < auc["b"]["high"]
    assert body["average_precision"]["test"]["method"] == "paired bootstrap"
    assert body["sampling"] == {
        "rows": 400, "of": 400, "sampled": False, "unscored": 0, "rule": "all 400 rows"
    }  # fmt: skip


def test_comparing_runs_on_different_versions_is_a_422_and_foreign_runs_a_404(
    alice_api, charlie_api, labelled, tenant_a
):
    _, weak, _ = labelled
    other = make_run(
        tenant_a, make_version(tenant_a, {"x": np.arange(5.0)}), np.arange(5.0), threshold=3
    )

    body = assert_problem(alice_api.get("/runs/compare", {"a": weak.pk, "b": other.pk}), 422)
    assert "same version" in body["detail"]
    assert_problem(charlie_api.get("/runs/compare", {"a": weak.pk, "b": weak.pk}), 404)
    assert alice_api.get("/runs/compare", {"a": weak.pk}).status_code == 422


def test_the_leaderboard_ranks_the_versions_runs(vera_api, labelled):
    version, weak, strong = labelled

    r = vera_api.get(f"/datasets/{version.dataset_id}/versions/{version.number}/leaderboard")

    assert r.status_code == 200, r.content
    body = r.json()
    assert [e["run_id"] for e in body["entries"]] == [strong.pk, weak.pk]
    assert body["entries"][0]["vs_best"] is None
    assert body["entries"][1]["vs_best"]["roc_auc_p"] < 0.001
    assert body["labelled"] is True and body["pending"] == 0


def test_a_bake_off_starts_configurations_and_default_detectors_together(
    alice_api, bob_api, tenant_a, labelled
):
    version, _, _ = labelled
    config = make_detector(tenant_a).config
    path = f"/datasets/{version.dataset_id}/versions/{version.number}/bakeoff"

    r = bob_api.post(
        path, json={"detector_config_ids": [config.pk], "detectors": ["knn"], "label_column": "y"}
    )

    assert r.status_code == 202, r.content
    body = r.json()
    assert len(body["runs"]) == 2 and all(run["status"] == "queued" for run in body["runs"])
    assert body["leaderboard"].endswith(f"/versions/{version.number}/leaderboard")
    knn = DetectorConfig.objects.get(tenant=tenant_a, name="knn (defaults)")
    assert {run["detector_config_id"] for run in body["runs"]} == {config.pk, knn.pk}
    # A second bake-off reuses the default configuration instead of creating another.
    r = alice_api.post(path, json={"detector_config_ids": [config.pk], "detectors": ["knn"]})
    assert r.status_code == 202
    assert DetectorConfig.objects.filter(tenant=tenant_a, name__startswith="knn").count() == 1


def test_a_refused_bake_off_starts_nothing_and_creates_no_configuration(
    alice_api, tenant_a, labelled
):
    version, _, _ = labelled
    path = f"/datasets/{version.dataset_id}/versions/{version.number}/bakeoff"
    before = Run.objects.count()

    body = assert_problem(alice_api.post(path, json={"detectors": ["knn"]}), 422)
    assert "Choose 2 to 12" in body["detail"]
    body = assert_problem(alice_api.post(path, json={"detectors": ["iforest", "no-such"]}), 422)
    assert (
        body["errors"][0]["loc"] == ["body", "detectors", 1, "key"] or "no-such" in body["detail"]
    )

    assert Run.objects.count() == before
    assert not DetectorConfig.objects.filter(tenant=tenant_a, name__endswith="(defaults)").exists()


def test_viewers_cannot_start_a_bake_off(vera_api, tenant_a, labelled):
    version, _, _ = labelled
    path = f"/datasets/{version.dataset_id}/versions/{version.number}/bakeoff"

    assert_problem(vera_api.post(path, json={"detectors": ["iforest", "knn"]}), 403)
