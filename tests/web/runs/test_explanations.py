"""Runs explain their flagged rows in the worker; the results and row pages show it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from django.urls import reverse

from apps.runs import selectors, services
from apps.runs.models import Run
from apps.runs.tasks import execute_run
from pynomaly import explain as E

from .factories import make_config, make_run, make_version
from .test_results_fixtures import figure_in

pytestmark = pytest.mark.usefixtures("media")

N, PLANTED = 400, 12


@pytest.fixture(autouse=True)
def _empty_cache():
    selectors._cache.clear()
    yield
    selectors._cache.clear()


def planted() -> pd.DataFrame:
    """Rows 0-11 stand out in column b only (spread out, so KNN does not see a cluster);
    ten of them are in region north, which a quarter of the other rows are in."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.normal(size=(N, 3)), columns=["a", "b", "c"])
    df.loc[: PLANTED - 1, "b"] = np.resize([1, -1], PLANTED) * np.linspace(7, 18, PLANTED)
    region = np.where(rng.random(N) < 0.25, "north", "south").astype(object)
    region[:PLANTED] = np.where(np.arange(PLANTED) < PLANTED - 2, "north", "south")
    df["region"] = region
    return df


def finished_run(tenant, user, detector: str = "knn") -> Run:
    version = make_version(tenant, planted())
    config = make_config(
        tenant, user, detectors=((detector, {}),), threshold=("contamination", PLANTED / N)
    )
    run = make_run(tenant, user, version, config)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    return run


def row_url(run: Run, row_id: int, slug: str | None = None) -> str:
    kwargs = {"tenant_slug": slug or run.tenant.slug, "run_id": run.pk, "row_id": row_id}
    return reverse("runs:row", kwargs=kwargs)


def _figure(client, html: str, chart_id: str) -> dict:
    return figure_in(client, html, chart_id)


# ---------------------------------------------------------------- the worker
def test_a_run_explains_its_flagged_rows_with_the_models_attributions(alice, tenant_a):
    run = finished_run(tenant_a, alice)
    assert run.explanations and "explaining" in run.timings
    info = run.summary["explanation"]
    assert info["method"] == "sampling_shap" and "SHAP" in info["method_label"]
    assert info["rows"] == run.summary["anomalies"] > 0
    assert info["importance"][0]["feature"] == "b"  # the planted column leads
    ex = E.read(run.explanations.path)
    assert len(ex) == info["rows"] and set(ex.row_ids) <= set(range(N))
    planted_rows = ex.row_ids < PLANTED
    assert planted_rows.sum() == PLANTED
    top = np.array(ex.feature_names)[np.argmax(ex.values[planted_rows], axis=1)]
    assert (top == "b").all()
    assert np.allclose(ex.base_value + ex.values.sum(axis=1), ex.outputs)


def test_the_segment_hints_name_the_over_represented_region(alice, tenant_a):
    run = finished_run(tenant_a, alice, "iforest")
    assert run.summary["explanation"]["method"] == "tree_shap"
    hints = run.summary["segments"]
    assert hints and hints[0]["column"] == "region" and hints[0]["value"] == "north"
    assert hints[0]["lift"] > 2.5 and hints[0]["anomalies"] >= 8


def test_the_explaining_stage_reports_progress_and_a_cancel_stops_it(alice, tenant_a, monkeypatch):
    real = services.record_progress
    seen = []

    def hook(*, run, stage, done, total, force=False):
        seen.append((stage, done, total))
        if stage == "explaining" and done == 2:  # after the second of 12 rows
            services.run_cancel(run=Run.objects.get(pk=run.pk), user=alice)
        return real(run=run, stage=stage, done=done, total=total, force=force)

    monkeypatch.setattr(services, "record_progress", hook)
    version = make_version(tenant_a, planted())
    config = make_config(tenant_a, alice, detectors=(("knn", {}),), threshold=("top_k", PLANTED))
    run = make_run(tenant_a, alice, version, config)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    explaining = [s for s in seen if s[0] == "explaining"]
    assert explaining and max(d for _, d, _ in explaining) < PLANTED  # stopped part-way
    assert not run.results and not run.explanations


def test_explanations_can_be_switched_off_and_the_run_still_succeeds(alice, tenant_a, settings):
    settings.RUN_EXPLAIN_MAX_ROWS = 0
    run = finished_run(tenant_a, alice)
    assert not run.explanations
    assert "switched off" in run.summary["explanation"]["error"]


def test_the_stage_progress_bar_gives_explaining_its_own_span():
    start, end = services.STAGE_SPAN[Run.Stage.EXPLAINING]
    assert services.STAGE_SPAN[Run.Stage.SCORING][1] == start < end
    assert services.STAGE_SPAN[Run.Stage.WRITING][0] == end


# ---------------------------------------------------------------- the pages
def test_the_results_page_shows_importance_method_segments_and_attributed_reasons(
    alice, tenant_a, alice_client
):
    run = finished_run(tenant_a, alice)
    html = alice_client.get(run.url("results")).content.decode()
    figure = _figure(alice_client, html, "chart-importance")
    assert figure["data"][0]["y"][0] == "b"
    assert "Shapley sampling values" in html  # the method is named
    assert 'id="card-explanations"' in html
    segments = html[html.index('id="segments"') :]
    assert "region</span> = north" in segments[:2000]
    assert "attributions: SHAP" in html  # the reasons column says where its features come from
    table = html[html.index('id="anomalies-table"') :]
    first_row = table[table.index('<tr data-row-id="') :]
    assert 'title="attribution"' in first_row[:3000]
    assert f'href="{row_url(run, 0)[:-2]}' in table  # rows link to their page


def test_a_rows_page_draws_its_waterfall(alice, tenant_a, alice_client, vera_client):
    run = finished_run(tenant_a, alice)
    ex = E.read(run.explanations.path)
    row_id = int(ex.row_ids[0])
    for client in (alice_client, vera_client):
        response = client.get(row_url(run, row_id))
        assert response.status_code == 200
    html = response.content.decode()
    figure = _figure(alice_client, html, "chart-waterfall")
    trace = figure["data"][0]
    assert trace["type"] == "waterfall"
    assert trace["y"][0] == "base value" and trace["y"][-1] == "this row"
    assert trace["y"][1] == "b"  # the largest attribution comes first
    assert trace["x"][-1] == pytest.approx(float(ex.outputs[0]), rel=1e-3)
    assert 'id="row-flagged"' in html and ">Yes<" in html


def test_a_row_that_was_not_explained_says_so(alice, tenant_a, alice_client):
    run = finished_run(tenant_a, alice)
    ex = E.read(run.explanations.path)
    quiet = next(r for r in range(N) if r not in set(ex.row_ids.tolist()))
    html = alice_client.get(row_url(run, quiet)).content.decode()
    assert "chart-waterfall" not in html
    assert "this row is not one of them" in html


def test_a_row_page_is_404_for_strangers_and_rows_that_do_not_exist(
    alice, tenant_a, tenant_b, alice_client, charlie_client
):
    run = finished_run(tenant_a, alice)
    assert charlie_client.get(row_url(run, 0)).status_code == 404
    assert charlie_client.get(row_url(run, 0, slug=tenant_b.slug)).status_code == 404
    assert alice_client.get(row_url(run, N + 5)).status_code == 404


def test_a_run_from_before_explanations_keeps_its_z_score_reasons(alice, tenant_a, alice_client):
    run = finished_run(tenant_a, alice)
    Run.objects.filter(pk=run.pk).update(
        explanations="", summary={**run.summary, "explanation": {}}
    )
    run.refresh_from_db()
    html = alice_client.get(run.url("results")).content.decode()
    assert "chart-importance" not in html and "run it again to get them" in html
    assert "Why flagged (z-score)" in html
