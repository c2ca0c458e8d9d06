"""A stream on the overview in a real Chromium: the widget draws the stored history with the
threshold, then follows the processor's messages (new scores, anomalies, state, lag) without a
reload, both when a message is published and end to end from records pushed over HTTP through
a running processor; another workspace's member cannot open the stream's socket."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.dashboard.models import DashboardLayout
from apps.streams.groups import publish
from apps.streams.models import StreamAnomaly
from tests.conftest import login
from tests.e2e.test_every_width import OVERFLOW, WIDTHS
from tests.web.streams.support import make_push_stream, make_stream, store_history

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WIDGET = "#widget-0 [data-stream-live]"


def _publish(stream_id: int, message: dict) -> None:
    """The processor's call, from another thread: Playwright's loop runs in this one."""
    worker = threading.Thread(target=publish, args=(stream_id, message))
    worker.start()
    worker.join(timeout=10)


def _on_overview(user, tenant, stream) -> None:
    DashboardLayout.objects.create(
        user=user,
        tenant=tenant,
        widgets=[{"type": "stream_live", "id": stream.pk}, {"type": "counts"}],
    )


def test_the_stream_widget_follows_the_processors_messages_without_a_reload(
    alice, tenant_a, asgi_server, page
):
    stream = make_stream(tenant_a, alice, threshold=0.6)
    store_history(stream, seconds=3, anomalies=1)
    _on_overview(alice, tenant_a, stream)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, asgi_server, alice.email)

    widget = page.locator(WIDGET)
    expect(widget).to_have_attribute("data-messages", "1")  # the stored state, on connect
    chart = widget.locator("[data-live-chart]")
    expect(chart.locator(".main-svg").first).to_be_attached()
    assert chart.get_attribute("data-points") == "6"
    assert chart.get_attribute("data-threshold") == "0.6"
    assert widget.locator("[data-live-anomalies] tr[data-anomaly]").count() == 1
    assert widget.locator('[data-stat="lag"]').inner_text() == "7"
    assert widget.locator('[data-stat="status"] [data-status]').get_attribute("data-status") == (
        "active"
    )
    assert widget.locator("[data-live-connection]").inner_text() == "live"
    page.evaluate("window.notReloaded = true")

    now = timezone.now()
    fresh = StreamAnomaly.objects.create(
        tenant=tenant_a, stream=stream, event_id="spike-42", event_time=now, score=3.5,
        severity=1.0, reasons=[{"column": "pressure", "value": 9.9}], record={"pressure": 9.9},
    )  # fmt: skip
    ms = int(now.timestamp() * 1000)
    _publish(stream.pk, {
        "points": [[ms - 1000, 0.2, 0], [ms, 3.5, 1]],
        "threshold": 0.75,
        "stats": {"records_total": 999, "anomalies_total": 2, "dead_letters_total": 0,
                  "records_per_second": 321.0, "lag": 42, "drift": {}, "status": "paused"},
        "anomalies": [{"id": fresh.pk, "event_id": "spike-42", "event_time": now.isoformat(),
                       "score": 3.5, "severity": 1.0, "reasons": fresh.reasons}],
    })  # fmt: skip
    first_row = widget.locator("[data-live-anomalies] tr[data-anomaly]").first
    expect(first_row).to_contain_text("spike-42")
    assert page.evaluate("window.notReloaded") is True
    assert chart.get_attribute("data-points") == "8"
    assert chart.get_attribute("data-threshold") == "0.75"
    assert widget.locator('[data-stat="lag"]').inner_text() == "42"
    assert widget.locator('[data-stat="records_total"]').inner_text() == "999"
    assert widget.locator('[data-stat="status"]').inner_text() == "Paused"

    # Rearranging the overview re-renders the widget: its old socket closes, a new one re-reads.
    page.locator("#move-down-0").click()
    moved = page.locator("#widget-1 [data-stream-live]")
    expect(moved).to_have_attribute("data-messages", "1")
    expect(moved.locator("[data-live-anomalies] tr[data-anomaly]")).to_have_count(2)
    assert page.evaluate("window.pynomalyLive.controllers().length") == 1

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)  # Plotly's responsive relayout
        assert page.evaluate(OVERFLOW) == [], width

    # On a phone a busy stream's minutes are thinned to the chart's width, the spike kept.
    page.set_viewport_size({"width": 390, "height": 900})
    page.wait_for_timeout(300)
    many = [[ms + 1000 + i * 200, 0.3 + (i % 10) / 100, 0] for i in range(2000)]
    many[1234] = [many[1234][0], 9.0, 1]
    _publish(stream.pk, {"points": many})
    chart = moved.locator("[data-live-chart]")
    expect(chart).to_have_attribute("data-points", "2006")  # the reset's 6 + 2000, all kept
    drawn = int(chart.get_attribute("data-drawn"))
    assert drawn <= 2 * chart.evaluate("el => el.clientWidth") < 2006
    assert 9 in chart.evaluate("el => el.data[1].y")  # the flagged spike, still drawn
    assert errors == []


def test_records_pushed_over_http_reach_the_widget_through_the_processor(
    alice, tenant_a, asgi_server, page
):
    from apps.streams import push
    from apps.streams.processor import Processor

    stream, token = make_push_stream(tenant_a, alice, name="checkout")
    _on_overview(alice, tenant_a, stream)
    processor = Processor(name="test:overview", refresh=0.5, streams=(stream.pk,))
    thread = threading.Thread(target=processor.run, daemon=True)
    thread.start()
    try:
        login(page, asgi_server, alice.email)
        widget = page.locator(WIDGET)
        expect(widget).to_have_attribute("data-connected", "true")
        assert widget.locator('[data-stat="records_total"]').inner_text() == "0"
        page.evaluate("window.notReloaded = true")

        records = [{"x": 1.0 + (i % 7) / 100} for i in range(300)]
        request = urllib.request.Request(
            f"{asgi_server.url}/api/v1/streams/{stream.pk}/events",
            data=json.dumps(records).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202

        expect(widget.locator('[data-stat="records_total"]')).to_have_text("300", timeout=60_000)
        chart = widget.locator("[data-live-chart]")
        assert int(chart.get_attribute("data-points")) > 0
        assert chart.locator(".main-svg").count() >= 1
        assert page.evaluate("window.notReloaded") is True
    finally:
        processor.stop()
        thread.join(timeout=60)
        push.drop(stream.pk)


def test_another_workspaces_member_cannot_open_the_streams_socket(
    alice, tenant_a, charlie, tenant_b, asgi_server, page
):
    stream = make_stream(tenant_a, alice)
    login(page, asgi_server, charlie.email)
    attempt = """async (path) => await new Promise((resolve) => {
        const ws = new WebSocket("ws://" + location.host + path);
        let opened = false, got = null;
        ws.onopen = () => { opened = true; };
        ws.onmessage = (e) => { got = JSON.parse(e.data).reset; ws.close(); };
        ws.onclose = () => resolve({opened, got});
    })"""
    own = make_stream(tenant_b, charlie)  # his own stream's socket opens: the refusal is A's
    assert page.evaluate(attempt, f"/ws/t/{tenant_b.slug}/streams/{own.pk}/") == {
        "opened": True, "got": True,
    }  # fmt: skip
    for slug in (tenant_a.slug, tenant_b.slug):  # A's URL, and his own URL with A's stream
        result = page.evaluate(attempt, f"/ws/t/{slug}/streams/{stream.pk}/")
        assert result == {"opened": False, "got": None}
    # nor put it on his overview
    response = page.request.post(
        f"{asgi_server.url}/t/{tenant_b.slug}/overview/layout/",
        data=json.dumps({"widgets": [{"type": "stream_live", "id": stream.pk}]}),
        headers={"Content-Type": "application/json", "X-CSRFToken": _csrf(page)},
    )
    assert response.status == 404


def _csrf(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def test_a_stream_widget_added_to_a_page_without_charts_loads_plotly_and_goes_live(
    alice, tenant_a, asgi_server, page
):
    stream = make_stream(tenant_a, alice, threshold=0.6)
    store_history(stream, seconds=3, anomalies=1)
    DashboardLayout.objects.create(user=alice, tenant=tenant_a, widgets=[{"type": "counts"}])
    login(page, asgi_server, alice.email)
    assert page.evaluate("typeof window.Plotly") == "undefined"

    page.locator("#customise summary").click()
    page.select_option("#add-widget-type", "stream_live")
    page.select_option("#add-stream", str(stream.pk))
    page.locator("#add-widget").click()
    widget = page.locator("#widget-1 [data-stream-live]")
    expect(widget.locator("[data-live-chart] .main-svg").first).to_be_attached()
    # the threshold comes with the socket's first message, which may follow the first drawing
    expect(widget.locator("[data-live-chart]")).to_have_attribute("data-threshold", "0.6")
    expect(widget.locator("[data-live-anomalies] tr[data-anomaly]")).to_have_count(1)
