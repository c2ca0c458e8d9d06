"""Every page at a phone's, a tablet's and a laptop's width: nothing wider than the screen.

The pages are found by following the links a signed-in owner sees, starting from the workspace
dashboard (so a new page is covered as soon as something links to it), in a workspace holding a
finished run with charts, a detector configuration, a pending invitation and an API token. At
390, 768 and 1280 px each page must not scroll sideways; a failure names the elements that stick
out. Tables may scroll inside their own container (overflow-x: auto), the page may not.
"""

from __future__ import annotations

from urllib.parse import urldefrag, urlparse

import pytest

from tests.conftest import login
from tests.e2e import test_csp

pytestmark = [pytest.mark.e2e]

# The CSP test's workspace: a dataset with a time column and a finished run with charts.
live_media = test_csp.live_media
run_with_charts = test_csp.run_with_charts

WIDTHS = (390, 768, 1280)
MAX_PAGES = 70
# Links that are not pages to look at: downloads, sign-out, actions behind a GET.
SKIP = (
    "/accounts/logout",
    ".csv",
    ".parquet",
    ".json",
    "/download",
    "/api/",
    "/static/",
    "/admin/",
    "/docs/",  # the documentation site (Material's own layout): tests/e2e/test_docs_browser.py
)

# Elements whose right edge passes the viewport, skipping those inside a scrolling container.
OVERFLOW = """
() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width + 1) return [];
  const inScroller = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (["auto", "scroll", "hidden", "clip"].includes(s.overflowX)) return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > width + 1 && !inScroller(el)) {
      const id = el.id ? "#" + el.id : "";
      const cls = typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\\s+/).slice(0, 3).join(".") : "";
      out.push(`${el.tagName.toLowerCase()}${id}${cls} right=${Math.round(r.right)} (${(el.textContent || "").trim().slice(0, 40)})`);
      if (out.length >= 8) break;
    }
  }
  if (!out.length) {
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width && r.right > width + 1) out.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} right=${Math.round(r.right)} (inside a scroller)`);
      if (out.length >= 8) break;
    }
  }
  return [`scrollWidth ${document.documentElement.scrollWidth} > ${width}`, ...out];
}
"""


@pytest.fixture
def furnished(run_with_charts, tenant_a, alice):
    """The workspace of the CSP test's run, plus an invitation and an API token to list."""
    from apps.api.services import token_create
    from apps.tenants.services import invitation_create

    invitation_create(tenant=tenant_a, email="newcomer@example.com", role="viewer", actor=alice)
    token_create(tenant=tenant_a, user=alice, name="a token with a rather long descriptive name")
    return run_with_charts


def _pages(page, start: str, origin: str) -> list[str]:
    """Breadth-first over same-origin links: one URL per path (queries ignored), at most ten
    siblings under one parent path (ten detector pages stand for all of them)."""
    seen: list[str] = []
    paths: set[str] = set()
    siblings: dict[str, int] = {}
    queue = [start]
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        path = urlparse(url).path
        parent = path.rstrip("/").rsplit("/", 1)[0]
        if path in paths or siblings.get(parent, 0) >= 10:
            continue
        paths.add(path)
        response = page.goto(url)
        if (
            response is None
            or response.status != 200
            or urlparse(page.url).path.startswith("/accounts/login")
        ):
            continue
        siblings[parent] = siblings.get(parent, 0) + 1
        seen.append(url)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            href = urldefrag(href)[0]
            if href.startswith(origin) and not any(s in href for s in SKIP):
                queue.append(href)
    return seen


def test_no_page_scrolls_sideways_at_390_768_or_1280(furnished, asgi_server, tenant_a, browser):
    problems: dict[str, list[str]] = {}
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        login(page, asgi_server, "alice@example.com")
        start = f"{asgi_server.url}/t/{tenant_a.slug}/"
        pages = _pages(page, start, asgi_server.url)
        assert len(pages) >= 12, pages  # the crawl found the workspace's pages
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for url in pages:
                page.goto(url)
                page.wait_for_load_state("load")
                wide = page.evaluate(OVERFLOW)
                if wide:
                    problems[f"{width}px {urlparse(url).path}"] = wide
    finally:
        context.close()
    # The pages a visitor sees before signing in.
    context = browser.new_context()
    page = context.new_page()
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for path in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"):
                assert page.goto(f"{asgi_server.url}{path}").status == 200, path
                wide = page.evaluate(OVERFLOW)
                if wide:
                    problems[f"{width}px {path} (signed out)"] = wide
    finally:
        context.close()
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())
