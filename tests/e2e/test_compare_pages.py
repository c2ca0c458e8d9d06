"""The comparison and leaderboard pages in a real Chromium under the strict CSP: the verdict
sentence and the intervals are on screen, the scatter is drawn, and the dataset page leads
to the bake-off."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import login
from tests.e2e.test_csp import _violations, live_media  # noqa: F401 - fixture
from tests.web.runs.test_results_fixtures import make_detector, make_run, make_version

pytestmark = [pytest.mark.e2e]


def test_a_user_compares_two_runs_and_reads_the_verdict_and_the_leaderboard(
    live_media,  # noqa: F811 - the fixture imported above
    asgi_server,
    tenant_a,
    page,
):
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(int)
    version = make_version(tenant_a, {"x": rng.normal(size=500), "y": y})
    weak = make_run(
        tenant_a, version, rng.normal(size=500) + 0.3 * y, threshold=1.5, label_column="y"
    )
    strong = make_run(
        tenant_a, version, rng.normal(size=500) + 3 * y, threshold=1.5, label_column="y"
    )
    make_detector(tenant_a), make_detector(tenant_a)
    violations = _violations(page)
    login(page, asgi_server, "alice@example.com")
    base = f"{asgi_server.url}/t/{tenant_a.slug}"

    page.goto(f"{base}/runs/compare/?a={weak.pk}&b={strong.pk}")
    sentence = page.locator("#compare-sentence")
    assert sentence.inner_text().startswith(
        f"B (#{strong.pk}) is better than A (#{weak.pk}) on ROC-AUC"
    )
    assert "p < 0.001" in sentence.inner_text()
    assert "DeLong" in page.locator("#compare-roc-auc").inner_text()
    assert "[" in page.locator("#compare-spearman-ci").inner_text()
    page.locator("#chart-compare svg.main-svg").first.wait_for(timeout=15_000)

    page.get_by_role("link", name=f"Leaderboard of {version}").click()
    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == 2
    assert rows.first.get_attribute("data-run") == str(strong.pk)
    assert "best" in rows.first.inner_text()

    page.get_by_role("link", name="Start a bake-off").click()
    assert page.locator("#bakeoff-form input[type=checkbox][name=configs]").count() >= 2
    assert page.evaluate("window.__csp") == []
    assert violations == []
