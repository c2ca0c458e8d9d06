"""The documentation site in a real Chromium, served by the app at /docs/ under its strict CSP:
no violation, the offline search finds pages, the palette toggle switches light/dark and keeps
the choice, and a phone-width page does not scroll sideways."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_csp import _violations
from tests.e2e.test_every_width import OVERFLOW

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def built_docs(tmp_path, monkeypatch):
    """A fresh strict build, handed to the server process (request it before asgi_server)."""
    site = tmp_path / "docs_site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    monkeypatch.setenv("PYNOMALY_DOCS_DIR", str(site))
    monkeypatch.setenv("DEBUG", "false")
    return site


def test_the_docs_work_in_the_browser_under_the_csp(built_docs, asgi_server, page):
    violations = _violations(page)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    page.goto(f"{asgi_server.url}/accounts/login/")
    with page.expect_navigation():
        page.locator("#footer-help").get_by_role("link", name="Getting started").click()
    assert page.url == f"{asgi_server.url}/docs/getting-started/"
    assert page.locator("h1").inner_text().startswith("Getting started")

    # Search runs in the browser (a web worker over search_index.json).
    query = page.locator("input[data-md-component=search-query]")
    query.click()
    query.press_sequentially("contamination", delay=30)  # Material reacts to key events
    results = page.locator(".md-search-result__item")
    results.first.wait_for()
    assert results.count() >= 1

    # The palette toggle: light → dark, remembered on the next page.
    page.keyboard.press("Escape")
    body = page.locator("body")
    before = body.get_attribute("data-md-color-scheme")
    page.locator("form[data-md-component=palette] label:visible").first.click()
    after = body.get_attribute("data-md-color-scheme")
    assert {before, after} == {"default", "slate"}
    page.goto(f"{asgi_server.url}/docs/concepts/runs/")
    assert body.get_attribute("data-md-color-scheme") == after

    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/docs/", "/docs/operator/configuration/", "/docs/api/"):
        page.goto(f"{asgi_server.url}{path}")
        assert page.evaluate(OVERFLOW) == [], path

    assert violations == []
    assert all(url.startswith(asgi_server.url) for url in requests), [
        u for u in requests if not u.startswith(asgi_server.url)
    ]
