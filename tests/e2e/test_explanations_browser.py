"""In a real Chromium: the results page draws the feature importance, a row's page its waterfall."""

from __future__ import annotations

import pytest

from tests.conftest import login

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def explained_run(settings, tmp_path, alice, tenant_a):
    """A KNN run on planted data, executed in this process before the server starts."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 3600
    from apps.runs.models import Run
    from apps.runs.tasks import execute_run
    from tests.web.runs.factories import make_config, make_run, make_version
    from tests.web.runs.test_explanations import PLANTED, planted

    version = make_version(tenant_a, planted())
    config = make_config(
        tenant_a, alice, detectors=(("knn", {}),), threshold=("contamination", PLANTED / 400)
    )
    run = make_run(tenant_a, alice, version, config)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    return run


def test_the_importance_chart_and_a_rows_waterfall_are_drawn(explained_run, asgi_server, page):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, asgi_server, "alice@example.com")
    run = explained_run
    base = f"{asgi_server.url}/t/{run.tenant.slug}/runs/{run.pk}"

    page.goto(f"{base}/results/")
    page.locator("#chart-importance svg.main-svg").first.wait_for(timeout=15_000)
    assert page.locator("#chart-importance .bars path").count() >= 3  # one bar per feature
    assert "Shapley sampling values" in page.locator("#card-explanations").inner_text()
    assert "region = north" in page.locator("#segments").inner_text().replace("\n", " ")

    page.locator("#anomalies-table tbody tr a").first.click()
    page.wait_for_url("**/rows/*/")
    page.locator("#chart-waterfall svg.main-svg").first.wait_for(timeout=15_000)
    assert page.locator("#chart-waterfall .trace.bars, #chart-waterfall g.trace").count() >= 1
    assert "b" in page.locator("#row-attributions tbody tr").first.inner_text()
    assert errors == []
