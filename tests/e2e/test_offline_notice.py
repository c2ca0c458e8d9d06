"""Offline in a real Chromium: an action that needs the server says so, marks what it could not
refresh, and offers a retry that brings the numbers up to date once the connection is back."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import login
from tests.e2e.test_csp import live_media  # noqa: F401 - fixture
from tests.web.runs.test_results_fixtures import make_run, make_version

pytestmark = [pytest.mark.e2e]


def test_a_threshold_preview_offline_says_so_and_retries(
    live_media,  # noqa: F811 - the fixture imported above
    asgi_server,
    tenant_a,
    page,
):
    n = 2000
    rng = np.random.default_rng(3)
    scores = rng.normal(size=n)
    scores[:40] += 5
    run = make_run(
        tenant_a, make_version(tenant_a, {"f0": rng.normal(size=n)}), scores, threshold=2.5
    )
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, asgi_server, "alice@example.com")
    page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/runs/{run.pk}/results/")
    notice = page.locator("#connection-notice")
    assert notice.is_hidden()
    preview = page.locator("#threshold-preview")
    before = preview.inner_text()

    page.context.set_offline(True)
    page.fill("#threshold-number", "4.5")
    notice.wait_for(state="visible", timeout=15_000)
    assert "offline" in notice.inner_text()
    assert page.locator("#threshold-preview[data-stale]").count() == 1
    assert preview.inner_text() == before  # nothing pretended to update

    page.context.set_offline(False)
    page.wait_for_function("navigator.onLine")
    notice.get_by_role("button", name="Retry").click()
    notice.wait_for(state="hidden", timeout=15_000)
    # a chart that asked for its figure offline (the typing scrolled near it) is drawn now
    page.locator("#chart-histogram").scroll_into_view_if_needed()
    page.locator("#chart-histogram svg.main-svg").first.wait_for(timeout=15_000)
    assert page.locator("[data-chart-failed]").count() == 0
    assert page.locator("[data-stale]").count() == 0
    page.wait_for_function(
        "(before) => document.querySelector('#threshold-preview').innerText !== before", arg=before
    )
    expected = int((scores > 4.5).sum())
    assert f"{expected:,}" in page.locator("#threshold-preview").inner_text()
    assert not [e for e in errors if "Uncaught" in e]
