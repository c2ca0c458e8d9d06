"""The workspace overview in a real Chromium: arranging widgets by keyboard survives a reload,
and an empty workspace walks a newcomer from demo data to the results."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import login

pytestmark = pytest.mark.e2e


def _order(page) -> list[str]:
    return page.locator("#widgets > li[data-widget]").evaluate_all(
        "els => els.map(e => e.dataset.widget)"
    )


def test_alice_adds_reorders_by_keyboard_and_removes_widgets_and_keeps_them(
    asgi_server, alice, tenant_a, page, settings, tmp_path
):
    from apps.runs.models import Run
    from tests.web.runs.factories import blobs, make_config, make_run, make_version

    version = make_version(tenant_a, blobs(200))
    run = make_run(
        tenant_a, alice, version, make_config(tenant_a, alice),
        status=Run.Status.SUCCEEDED, finished_at=timezone.now(),
        summary={"anomalies": 7, "rows": 200},
    )  # fmt: skip
    login(page, asgi_server, alice.email)
    start = _order(page)
    assert start[:2] == ["open_alerts", "health"]  # an owner's default

    page.locator("#customise summary").click()
    page.select_option("#add-widget-type", "run_chart")
    page.select_option("#add-run", str(run.pk))
    page.locator("#add-widget").click()
    n = len(start)
    expect(page.locator("#widgets > li[data-widget]")).to_have_count(n + 1)
    assert _order(page)[-1] == f"run_chart:{run.pk}"
    expect(
        page.locator("#" + f"widget-{n}")
    ).to_be_focused()  # the keyboard lands on the new widget

    # two moves up, by keyboard only: the focus follows the moved widget's button
    page.locator(f"#move-up-{n}").focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"#widget-{n - 1}")).to_have_attribute("data-widget", f"run_chart:{run.pk}")
    expect(page.locator("#" + f"move-up-{n - 1}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(f"#widget-{n - 2}")).to_have_attribute("data-widget", f"run_chart:{run.pk}")
    expect(page.locator("#" + f"move-up-{n - 2}")).to_be_focused()

    # remove the first widget (Tab from the page's start to its Remove button, then Space)
    page.locator("#remove-0").focus()
    page.keyboard.press("Space")
    expect(page.locator("#widgets > li[data-widget]")).to_have_count(n)
    expect(page.locator("#" + "widget-0")).to_be_focused()
    arranged = _order(page)
    assert arranged == [*start[1 : n - 2], f"run_chart:{run.pk}", *start[n - 2 :]]
    assert f"run #{run.pk}" in page.locator(f"#widget-{n - 3}").inner_text()

    page.reload()
    assert _order(page) == arranged
    assert re.search(r"Datasets\s*1", page.locator("#counts").inner_text())


def test_a_newcomer_walks_the_guided_first_run_from_demo_data_to_the_results(
    asgi_server, celery_worker, alice, tenant_a, page
):
    login(page, asgi_server, alice.email)
    guide = page.locator("#first-run")
    assert guide.locator('[data-step="data"]').get_attribute("data-state") == "next"
    assert page.locator("#widgets").count() == 0

    page.locator("#use-demo-data").click()
    page.wait_for_selector('[data-step="data"][data-state="done"]')
    assert guide.locator('[data-step="detector"]').get_attribute("data-state") == "next"
    assert "Card payments (demo, labelled)" in guide.inner_text()

    page.locator("#start-first-run").click()
    assert page.locator("select[name=detector]").input_value() == "auto"
    assert page.locator("select[name=label_column]").input_value() == "is_fraud"
    page.get_by_role("button", name="Start run").click()
    page.wait_for_selector("#results-link", timeout=180_000)

    page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/")
    assert guide.locator('[data-step="run"]').get_attribute("data-state") == "done"
    assert guide.locator('[data-step="results"]').get_attribute("data-state") == "next"
    page.get_by_role("link", name="See the anomalies").click()
    page.wait_for_url(re.compile(r"/runs/\d+/results/"))
    assert page.locator("#card-anomalies").inner_text().strip() not in ("", "0")


# ---------------------------------------------------------------- drag and drop
def _drag(page, handle: str, target: str) -> None:
    """Press the handle, move in steps onto the target widget's middle, release (a mouse)."""
    box = page.locator(handle).bounding_box()
    goal = page.locator(target).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(goal["x"] + goal["width"] / 2, goal["y"] + goal["height"] / 2, steps=12)
    page.mouse.up()


def _finished_run(tenant, user):
    from apps.runs.models import Run
    from tests.web.runs.factories import blobs, make_config, make_run, make_version

    version = make_version(tenant, blobs(200))
    return make_run(
        tenant, user, version, make_config(tenant, user),
        status=Run.Status.SUCCEEDED, finished_at=timezone.now(),
        summary={"anomalies": 7, "rows": 200},
    )  # fmt: skip


def test_alice_drags_a_widget_to_the_top_and_it_stays_there_after_a_reload(
    asgi_server, alice, tenant_a, page
):
    from apps.dashboard.models import DashboardLayout

    _finished_run(tenant_a, alice)
    page.set_viewport_size({"width": 1280, "height": 1800})  # the widget and its goal in view
    login(page, asgi_server, alice.email)
    start = _order(page)
    assert start[0] == "open_alerts" and "counts" in start
    counts = start.index("counts")

    _drag(page, f"#drag-{counts}", "#widget-0")
    expect(page.locator("#widget-0")).to_have_attribute("data-widget", "counts")
    expect(page.locator("#widget-0")).to_be_focused()  # re-rendered by the server, focus kept
    moved = ["counts", *[w for w in start if w != "counts"]]
    assert _order(page) == moved
    assert "position 1 of" in page.inner_text("#drag-status")
    # the same layout the Up/Down buttons save
    assert [w["type"] for w in DashboardLayout.objects.get(user=alice).widgets] == moved

    page.reload()
    assert _order(page) == moved
    # the keyboard path still works on the re-rendered overview
    page.locator("#move-down-0").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#widget-1")).to_have_attribute("data-widget", "counts")


def test_on_a_tablet_a_finger_drags_a_widget_down_and_escape_cancels_a_drag(
    asgi_server, alice, tenant_a, browser
):
    _finished_run(tenant_a, alice)
    context = browser.new_context(viewport={"width": 768, "height": 1366}, has_touch=True)
    page = context.new_page()
    try:
        login(page, asgi_server, alice.email)
        start = _order(page)
        cdp = page.context.new_cdp_session(page)

        def touch(kind: str, x: float, y: float) -> None:
            points = [] if kind == "touchEnd" else [{"x": x, "y": y}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        box = page.locator("#drag-0").bounding_box()
        goal = page.locator("#widget-1").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        touch("touchStart", x, y)
        for i in range(1, 13):
            gy = goal["y"] + goal["height"] / 2
            touch("touchMove", x, y + (gy - y) * i / 12)
        touch("touchEnd", x, gy)
        expect(page.locator("#widget-1")).to_have_attribute("data-widget", start[0])
        assert _order(page) == [start[1], start[0], *start[2:]]

        # a mouse drag abandoned with Escape puts the widget back and saves nothing
        before = _order(page)
        box = page.locator("#drag-2").bounding_box()
        goal = page.locator("#widget-0").bounding_box()
        page.mouse.move(box["x"] + 5, box["y"] + 5)
        page.mouse.down()
        page.mouse.move(goal["x"] + goal["width"] / 2, goal["y"] + goal["height"] / 2, steps=8)
        assert _order(page)[0] == before[2]  # the preview moved it
        page.keyboard.press("Escape")
        page.mouse.up()
        assert _order(page) == before
        page.reload()
        assert _order(page) == before
    finally:
        context.close()
