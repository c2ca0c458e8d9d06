"""The strict Content-Security-Policy in a real Chromium: every main page loads, draws its
charts and keeps working with not a single violation reported by the browser."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PASSWORD, login
from tests.web.runs.test_results_fixtures import make_run, make_version

pytestmark = [pytest.mark.e2e]

# Installed before any page script runs, so a violation during parsing is caught too.
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sample || "") + " @" + e.sourceFile + ":" + e.lineNumber + ":" + e.columnNumber);
});
"""


def _violations(page) -> list[str]:
    """Violations from the page's own listener and from the console ("Refused to …")."""
    seen: list[str] = []
    page.add_init_script(LISTEN)
    page.on(
        "console",
        lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda exc: seen.append(f"pageerror: {exc}"))
    return seen


@pytest.fixture
def live_media(settings, tmp_path):
    """MEDIA_ROOT shared with the server subprocess (request it before asgi_server)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def run_with_charts(live_media, tenant_a):
    from pynomaly.profile import profile_frame

    rng = np.random.default_rng(3)
    n = 400
    data = {
        "timestamp": pd.date_range("2024-01-01", periods=n, freq="min"),
        "temperature": rng.normal(20, 2, n),
        "pressure": rng.normal(1013, 5, n),
        "name": [f"item-{i % 7}" for i in range(n)],
    }
    version = make_version(tenant_a, data, time_column="timestamp")
    # A profile, so the dataset page shows its per-column histograms.
    version.profile = profile_frame(pd.DataFrame(data), time_column="timestamp")
    version.save(update_fields=["profile"])
    scores = rng.random(n)
    contributions = {"temperature": rng.random(n), "pressure": rng.random(n)}
    return make_run(
        tenant_a,
        version,
        scores,
        threshold=0.95,
        contributions=contributions,
        time_column="timestamp",
    )


def test_the_main_pages_work_under_the_csp_with_no_violation(
    run_with_charts, asgi_server, tenant_a, page
):
    violations = _violations(page)
    login(page, asgi_server, "alice@example.com")
    base = f"{asgi_server.url}/t/{tenant_a.slug}"
    run = run_with_charts
    pages = {
        "dashboard": f"{base}/",
        "datasets": f"{base}/datasets/",
        "dataset": f"{base}/datasets/{run.dataset_version.dataset_id}/",
        "upload": f"{base}/datasets/upload/",
        "detectors": f"{base}/detectors/",
        "new configuration": f"{base}/detectors/configs/new/",
        "runs": f"{base}/runs/",
        "run": f"{base}/runs/{run.pk}/",
        "settings": f"{base}/settings/",
        "audit": f"{base}/audit/",
        "tokens": f"{base}/settings/tokens/",
    }
    for name, address in pages.items():
        response = page.goto(address)
        assert response.status == 200, name
        assert "Content-Security-Policy" in {k.title(): v for k, v in response.headers.items()}
        page.wait_for_load_state("load")
        assert page.evaluate("window.__csp") == [], name
        assert page.evaluate("typeof window.htmx") == "object", name

    # The dataset page's histograms are drawn (SVG bars, no style attributes needed).
    page.goto(pages["dataset"])
    assert page.locator("[data-histogram] rect").count() > 0

    # The results page: Plotly draws every chart, styled by the rules it adds itself.
    page.goto(f"{base}/runs/{run.pk}/results/")
    charts = page.locator("[data-plotly]")
    assert charts.count() >= 3
    for i in range(charts.count()):
        charts.nth(i).locator("svg.main-svg").first.wait_for(timeout=15_000)
    # Plotly's own rules went in through the one empty <style> element the policy allows.
    assert page.evaluate(
        "[...document.styleSheets].some(s => s.ownerNode && "
        "s.ownerNode.id === 'plotly.js-style-global' && s.cssRules.length > 0)"
    )

    # The slider still sets the number box (was an inline hx-on handler).
    slider = page.locator("#threshold-range")
    lowest = page.evaluate(
        "JSON.parse(document.getElementById('threshold-stops').textContent)[0].threshold"
    )
    slider.fill("0")
    assert float(page.locator("#threshold-number").input_value()) == pytest.approx(lowest)
    page.wait_for_function(
        "() => document.getElementById('preview-count').textContent.trim() !== ''"
    )
    assert re.search(r"\d", page.locator("#preview-count").inner_text())

    assert page.evaluate("window.__csp") == []
    assert violations == []


def test_an_inline_script_would_be_refused(asgi_server, tenant_a, page):
    """The policy is not decorative: a script injected into the page does not run."""
    violations = _violations(page)
    login(page, asgi_server, "alice@example.com")
    page.evaluate(
        """() => { const s = document.createElement("script");
                   s.textContent = "window.__injected = 1"; document.body.appendChild(s); }"""
    )
    page.wait_for_function("() => window.__csp.length > 0")
    assert page.evaluate("window.__injected") is None
    assert any("script-src" in v for v in page.evaluate("window.__csp"))
    assert violations  # and the console says so


def test_the_admin_and_two_factor_pages_work_under_the_csp(asgi_server, alice, tenant_a, page):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    violations = _violations(page)
    login(page, asgi_server, "alice@example.com")
    for path in (
        "/admin/",
        "/admin/audit/auditevent/",
        "/admin/tenants/tenant/",
        f"/admin/tenants/tenant/{tenant_a.pk}/change/",
        "/audit/",
        "/accounts/2fa/",
        "/accounts/2fa/totp/activate/",
    ):
        response = page.goto(asgi_server.url + path)
        assert response.status == 200, path
        page.wait_for_load_state("load")
        assert page.evaluate("window.__csp") == [], path
    # The TOTP QR code is a data: image, which img-src allows: it is drawn (after the
    # password is confirmed again, as allauth asks before adding a second factor).
    page.goto(asgi_server.url + "/accounts/2fa/totp/activate/")
    if "/reauthenticate/" in page.url:
        page.fill("main input[name=password]", PASSWORD)
        page.click("main button[type=submit]")  # not the header's "Sign out"
        page.wait_for_url(lambda url: "/reauthenticate/" not in url)
    qr = page.locator("img[src^='data:']").first
    qr.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", qr.element_handle())
    assert page.evaluate("window.__csp") == []
    assert violations == []
