"""Triage in a real Chromium at tablet size: keys and taps mark rows, the filter narrows the
table, and verdicts made offline wait in the queue and sync once when the network returns."""

from __future__ import annotations

import time

import pytest

from tests.conftest import login
from tests.web.runs.test_results_fixtures import results_env, small_run, url  # noqa: F401

TABLET = {"width": 820, "height": 1180}  # an iPad Air held upright


@pytest.fixture
def tablet(browser):
    context = browser.new_context(viewport=TABLET, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    context.close()


def _cell(page, row: int):
    return page.locator(f"#verdict-{row}")


def _pressed(page, row: int) -> str | None:
    found = _cell(page, row).locator('button.verdict-btn[aria-pressed="true"]')
    return found.get_attribute("data-kind") if found.count() else None


def _wait_for(check, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _wait_for_controlling_service_worker(page, timeout: float = 20) -> None:
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    deadline = time.monotonic() + timeout
    while not page.evaluate("!!navigator.serviceWorker.controller"):
        assert time.monotonic() < deadline, "the service worker never took control of the page"
        page.reload()


def test_bob_triages_with_keys_and_taps_on_a_tablet_and_filters_the_table(
    asgi_server, tenant_a, bob, tablet
):
    from apps.feedback.models import Verdict

    page = tablet
    run = small_run(tenant_a)  # rows 91..99 flagged, 99 scores highest
    login(page, asgi_server, "bob@example.com")
    page.goto(asgi_server.url + url("results", run))

    first = page.locator("tr.verdict-row").first
    assert first.get_attribute("data-row-id") == "99"
    page.keyboard.press("j")  # focus the first row
    page.keyboard.press("a")  # anomaly, and on to the next row
    page.wait_for_function("document.activeElement.dataset.rowId === '98'")
    page.keyboard.press("n")
    _wait_for(
        lambda: _pressed(page, 99) == "anomaly" and _pressed(page, 98) == "normal",
        what="both cells",
    )

    box = _cell(page, 97).get_by_role("button", name="Unsure").bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44, box  # a finger's target
    _cell(page, 97).get_by_role("button", name="Unsure").tap()
    _wait_for(lambda: _pressed(page, 97) == "unsure", what="the tapped verdict")

    assert dict(Verdict.objects.values_list("row", "verdict")) == {
        99: "anomaly",
        98: "normal",
        97: "unsure",
    }
    assert set(Verdict.objects.values_list("created_by__email", flat=True)) == {"bob@example.com"}

    page.locator("#verdict-filter").get_by_role("link", name="Anomaly", exact=True).click()
    _wait_for(lambda: page.locator("tr.verdict-row").count() == 1, what="the filtered table")
    assert page.locator("tr.verdict-row").first.get_attribute("data-row-id") == "99"
    page.locator("#verdict-filter").get_by_role("link", name="No verdict yet").click()
    _wait_for(lambda: page.locator("tr.verdict-row").count() == 6, what="rows without a verdict")
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"] + 1
    assert page.errors == []


def test_verdicts_made_offline_wait_with_a_count_and_sync_once_when_online(
    asgi_server, tenant_a, bob, tablet
):
    from apps.audit.models import AuditEvent
    from apps.feedback.models import Verdict, VerdictChange

    page = tablet
    run = small_run(tenant_a)
    login(page, asgi_server, "bob@example.com")
    page.goto(asgi_server.url + url("results", run))
    _wait_for_controlling_service_worker(page)
    pending = page.locator("#verdict-pending")
    assert pending.is_hidden()

    page.context.set_offline(True)
    try:
        _cell(page, 96).get_by_role("button", name="Anomaly").tap()
        page.locator("tr[data-row-id='95']").focus()
        page.keyboard.press("n")
        _wait_for(lambda: pending.get_attribute("data-count") == "2", what="two pending verdicts")
        assert "2 verdicts wait" in pending.inner_text() and "offline" in pending.inner_text()
        assert _pressed(page, 96) == "anomaly" and _pressed(page, 95) == "normal"  # shown at once
        tags = page.evaluate("navigator.serviceWorker.ready.then(r => r.sync.getTags())")
        assert tags == ["pynomaly-verdicts"]  # Background Sync will send them, page or no page
        time.sleep(0.5)
        assert not Verdict.objects.exists()  # nothing reached the server
    finally:
        page.context.set_offline(False)

    _wait_for(
        lambda: pending.get_attribute("data-count") == "0" and pending.is_hidden(),
        what="the queue to empty",
    )
    _wait_for(lambda: Verdict.objects.count() == 2, what="the synced verdicts")
    time.sleep(1.0)  # Background Sync and the online event may both have sent the queue
    assert dict(Verdict.objects.values_list("row", "verdict")) == {96: "anomaly", 95: "normal"}
    assert VerdictChange.objects.count() == 2
    assert AuditEvent.objects.filter(action="verdict.set").count() == 2
    _wait_for(lambda: _pressed(page, 96) == "anomaly" and page.locator("[data-pending]").count() == 0,
              what="the table to show the server's verdicts")  # fmt: skip
    assert page.evaluate("PynomalyVerdicts.count()") == 0
    # The browser fired the sync event (a tag stays registered until its handler succeeds).
    _wait_for(
        lambda: page.evaluate("navigator.serviceWorker.ready.then(r => r.sync.getTags())") == [],
        what="Background Sync to run",
    )
    assert page.errors == []


def test_the_row_page_marks_a_row_with_a_key_and_shows_its_history(
    asgi_server, tenant_a, bob, tablet
):
    from django.urls import reverse

    from apps.feedback.models import Verdict

    page = tablet
    run = small_run(tenant_a)
    login(page, asgi_server, "bob@example.com")
    path = reverse(
        "feedback:row", kwargs={"tenant_slug": tenant_a.slug, "run_id": run.pk, "row": 42}
    )
    page.goto(asgi_server.url + path)
    assert page.locator("h1").inner_text() == "Row 42"
    page.keyboard.press("u")
    _wait_for(
        lambda: page.locator('#verdict-panel button[aria-pressed="true"]').count() == 1,
        what="the panel",
    )
    assert Verdict.objects.get().verdict == "unsure"
    page.reload()
    assert "Unsure" in page.locator("#verdict-history").inner_text()
    assert page.errors == []
