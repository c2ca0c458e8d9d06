"""The results page in a real Chromium draws every chart from its own figure URL: the HTML
carries no figure JSON, the script asks with the chart's width, and a threshold preview
fetches the histogram drawn at the previewed threshold."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.conftest import login
from tests.e2e.test_csp import _violations, live_media  # noqa: F401 - fixture
from tests.web.runs.test_results_fixtures import make_run, make_version

pytestmark = [pytest.mark.e2e]

CHARTS = ("chart-histogram", "chart-timeseries", "chart-heatmap", "chart-projection")


def test_the_results_page_draws_its_charts_from_their_urls(
    live_media,  # noqa: F811 - the fixture imported above
    asgi_server,
    tenant_a,
    page,
):
    n = 3000
    rng = np.random.default_rng(5)
    data = {f"f{i}": rng.normal(size=n) for i in range(6)}
    data["timestamp"] = np.arange(n).astype("datetime64[m]").astype("datetime64[ns]")
    scores = rng.normal(size=n)
    scores[:60] += 4
    run = make_run(
        tenant_a,
        make_version(tenant_a, data),
        scores,
        threshold=2.5,
        contributions={"f0": rng.random(n), "f1": rng.random(n)},
        time_column="timestamp",
    )
    violations = _violations(page)
    fetched: list[str] = []
    page.on("response", lambda r: fetched.append(r.url) if "/figures/" in r.url else None)
    login(page, asgi_server, "alice@example.com")

    document = page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/runs/{run.pk}/results/")
    assert document is not None and document.status == 200
    html = document.text()
    assert re.findall(r'<script id="([^"]+)" type="application/json">', html) == ["threshold-stops"]
    assert '"data":' not in html and "scattergl" not in html  # no figure inlined
    for chart in CHARTS:
        page.locator(f"#{chart} svg.main-svg").first.wait_for(timeout=20_000)
        assert page.locator(f"#{chart}").get_attribute("data-drawn")
    names = {re.search(r"/figures/(\w+)\.json", u)[1] for u in fetched}  # type: ignore[index]
    assert names >= {"histogram", "timeseries", "heatmap", "projection"}
    assert all(re.search(r"[?&]w=\d+", u) and "v=" in u for u in fetched)

    # A preview swaps in a histogram panel whose URL asks for the previewed threshold.
    before = len(fetched)
    page.fill("#threshold-number", "3.5")
    page.locator('#chart-histogram[data-drawn*="threshold=3.5"]').wait_for(timeout=20_000)
    assert any("histogram.json" in u and "threshold=3.5" in u for u in fetched[before:])
    line = page.evaluate("document.querySelector('#chart-histogram').layout.shapes[0].x0")
    assert line == 3.5
    assert page.evaluate("window.__csp") == []
    assert violations == []


def test_on_a_phone_plotly_runs_only_once_the_reader_nears_the_charts(
    live_media,  # noqa: F811 - the fixture imported above
    asgi_server,
    tenant_a,
    browser,
):
    n = 2000
    rng = np.random.default_rng(6)
    data = {f"f{i}": rng.normal(size=n) for i in range(4)}
    scores = rng.normal(size=n)
    scores[:40] += 4
    run = make_run(tenant_a, make_version(tenant_a, data), scores, threshold=2.5)
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    page = context.new_page()
    try:
        loaded: list[str] = []
        page.on("request", lambda r: loaded.append(r.url) if "/figures/" in r.url else None)
        login(page, asgi_server, "alice@example.com")
        page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/runs/{run.pk}/results/")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1000)
        # the charts are screens below the summary: no Plotly run, no figure asked for
        assert page.evaluate("typeof window.Plotly") == "undefined"
        assert loaded == []

        page.locator("#chart-histogram").scroll_into_view_if_needed()
        page.locator("#chart-histogram svg.main-svg").first.wait_for(timeout=20_000)
        assert page.evaluate("typeof window.Plotly") == "object"
        assert any("/figures/histogram.json" in u for u in loaded)
    finally:
        context.close()
