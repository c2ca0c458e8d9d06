"""The app shell in a real Chromium: sign-in, navigation, layout widths, 404s, PWA, offline."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, login

SECTIONS = {
    "Datasets": "datasets/",
    "Detectors": "detectors/",
    "Runs": "runs/",
    "Monitors": "monitors/",
    "Alerts": "alerts/",
    "Sources": "sources/",
    "Streams": "streams/",
    "Settings": "settings/",
}


@pytest.fixture
def server_without_debug(transactional_db, monkeypatch, request):
    """The ASGI server with DEBUG off, so 404s use our handler rather than Django's debug page."""
    # transactional_db is named here so personas are committed where Daphne can see them.
    monkeypatch.setenv("DEBUG", "false")
    return request.getfixturevalue("asgi_server")


def _page_errors(page) -> list[str]:
    """Script errors and failed page loads/resources (a missing htmx or app.js shows here)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors


def _scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_alice_signs_in_and_sees_her_workspace_in_the_shell(asgi_server, tenant_a, page):
    errors = _page_errors(page)
    login(page, asgi_server, "alice@example.com")

    assert page.url == f"{asgi_server.url}/t/{tenant_a.slug}/"
    assert page.locator("#tenant-switcher summary").inner_text().startswith("Acme")
    nav = page.locator("#main-nav a")
    assert nav.all_inner_texts() == list(SECTIONS)
    assert page.evaluate("window.htmx && window.htmx.version").startswith("2.")
    assert errors == []


def test_alice_reaches_every_section_from_the_nav(asgi_server, tenant_a, page):
    errors = _page_errors(page)
    login(page, asgi_server, "alice@example.com")

    for label, suffix in SECTIONS.items():
        with page.expect_navigation() as navigation:
            page.locator("#main-nav").get_by_role("link", name=label, exact=True).click()
        assert navigation.value.status == 200, label
        assert page.url == f"{asgi_server.url}/t/{tenant_a.slug}/{suffix}"
        current = page.locator('#main-nav a[aria-current="page"]')
        assert current.inner_text() == label
    assert errors == []


def test_the_tenant_switcher_lists_every_workspace_of_the_user(asgi_server, tenant_a, page):
    from apps.tenants.services import tenant_create

    tenant_create(name="Second lab", owner=tenant_a.memberships.get().user)
    login(page, asgi_server, "alice@example.com")

    page.locator("#tenant-switcher summary").click()
    page.locator("#tenant-switcher").get_by_role("link", name=re.compile("Second lab")).click()
    page.wait_for_url(re.compile(r"/t/second-lab[\w-]*/$"))
    assert page.locator("#tenant-switcher summary").inner_text().startswith("Second lab")


def test_alice_signs_out_and_her_workspace_asks_for_a_sign_in_again(asgi_server, tenant_a, page):
    login(page, asgi_server, "alice@example.com")

    page.locator("header").get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    assert page.locator("header").get_by_role("link", name="Sign in").is_visible()

    page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/")
    assert "/accounts/login/" in page.url


@pytest.mark.parametrize("width,height", [(768, 1024), (390, 844)])
def test_the_dashboard_and_sign_in_page_do_not_scroll_sideways(
    asgi_server, tenant_a, page, width, height
):
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{asgi_server.url}/accounts/login/")
    assert _scroll_width(page) <= width

    login(page, asgi_server, "alice@example.com")
    assert page.locator("#main-nav").is_visible()
    assert _scroll_width(page) <= width

    page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/settings/")
    assert _scroll_width(page) <= width


def test_the_sign_in_page_is_styled_like_the_app(asgi_server, page):
    page.goto(f"{asgi_server.url}/accounts/login/")
    header = page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
    assert header not in ("rgba(0, 0, 0, 0)", "transparent"), "styles.css did not load"
    field = page.locator("#id_login")
    assert field.evaluate("el => getComputedStyle(el).borderRadius") != "0px"
    assert page.locator("#entrance h1").inner_text() == "Sign In"


def test_a_new_user_signs_up_and_lands_in_their_personal_workspace(asgi_server, page):
    from apps.tenants.models import Tenant

    page.goto(f"{asgi_server.url}/accounts/signup/")
    page.fill("input[name=email]", "newbie@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.locator("#entrance").get_by_role("button", name="Sign Up").click()
    page.wait_for_url(re.compile(r"/t/[\w-]+/$"))

    tenant = Tenant.objects.get(memberships__user__email="newbie@example.com")
    assert page.url == f"{asgi_server.url}/t/{tenant.slug}/"
    assert page.locator("h1").inner_text() == "newbie's workspace"
    assert page.locator("#tenant-switcher summary").inner_text().startswith("newbie's workspace")


def test_a_stranger_gets_the_styled_not_found_page_for_alices_workspace(
    server_without_debug, tenant_a, tenant_b, page
):
    login(page, server_without_debug, "charlie@example.com")
    response = page.goto(f"{server_without_debug.url}/t/{tenant_a.slug}/")

    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert "Acme" not in page.content()
    header = page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
    assert header not in ("rgba(0, 0, 0, 0)", "transparent"), (
        "styles.css did not load without DEBUG"
    )


def test_charts_are_drawn_from_their_json_script_after_an_htmx_swap(asgi_server, tenant_a, page):
    login(page, asgi_server, "alice@example.com")
    page.add_script_tag(url="/static/vendor/plotly/plotly.min.js")
    page.evaluate("""() => {
        const fig = document.createElement('script');
        fig.type = 'application/json'; fig.id = 'demo-figure';
        fig.textContent = JSON.stringify({data: [{y: [1, 2, 9, 2]}], layout: {title: {text: 'demo'}}});
        const el = document.createElement('div');
        el.id = 'demo'; el.dataset.plotly = 'demo-figure';
        document.querySelector('#main').append(fig, el);
        document.body.dispatchEvent(new CustomEvent('htmx:afterSettle', {bubbles: true}));
    }""")
    page.wait_for_selector("#demo .main-svg", timeout=10_000)
    assert page.locator("#demo .modebar-btn--logo").count() == 0  # displaylogo: false


# ---------------------------------------------------------------- PWA
def _wait_for_controlling_service_worker(page, timeout: float = 20) -> None:
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    deadline = time.monotonic() + timeout
    while not page.evaluate("!!navigator.serviceWorker.controller"):
        assert time.monotonic() < deadline, "the service worker never took control of the page"
        page.reload()


def test_chromium_finds_the_app_installable(asgi_server, playwright_instance, tmp_path):
    # A default (incognito) context always reports "in-incognito": use a real profile.
    context = playwright_instance.chromium.launch_persistent_context(
        user_data_dir=tmp_path, executable_path=CHROMIUM, args=CHROMIUM_ARGS
    )
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(f"{asgi_server.url}/accounts/login/")
        _wait_for_controlling_service_worker(page)
        cdp = context.new_cdp_session(page)
        deadline = time.monotonic() + 15
        while True:
            errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
            if not errors or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert errors == []
    finally:
        context.close()


def test_pages_show_the_offline_page_when_the_network_is_gone(asgi_server, tenant_a, page):
    login(page, asgi_server, "alice@example.com")
    _wait_for_controlling_service_worker(page)

    page.context.set_offline(True)
    try:
        page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/runs/")
        assert page.locator("h1").inner_text() == "You are offline"
        assert page.get_by_role("link", name="Try again").is_visible()
        card = page.evaluate("getComputedStyle(document.querySelector('#offline')).backgroundColor")
        assert card not in ("rgba(0, 0, 0, 0)", "transparent"), "the cached stylesheet was not used"
    finally:
        page.context.set_offline(False)


def test_the_offline_page_never_shows_while_the_network_works(asgi_server, tenant_a, page):
    login(page, asgi_server, "alice@example.com")
    _wait_for_controlling_service_worker(page)

    page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/settings/")
    assert page.locator("h1").inner_text() == "Workspace settings"
