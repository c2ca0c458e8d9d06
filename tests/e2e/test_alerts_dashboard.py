"""A member watching the dashboard sees an alert arrive live, finds it unread after a reload,
opens it, and marks it read — in a real Chromium against the real server and worker."""

from __future__ import annotations

import time

import pytest

from tests.conftest import login
from tests.web.alerts.conftest import make_monitor, rule_for

pytestmark = pytest.mark.e2e


def test_the_dashboard_shows_an_in_app_alert_live_and_lists_it_unread_until_read(
    asgi_server, celery_worker, alice, tenant_a, page, settings, tmp_path
):
    from apps.alerts.services import ChannelData, channel_create
    from tests.integration.test_alerts_live import _finish

    settings.MEDIA_ROOT = str(tmp_path / "media")
    monitor = make_monitor(tenant_a, alice, name="payments")
    app, _ = channel_create(tenant=tenant_a, user=alice, data=ChannelData(name="app", kind="inapp"))
    rule_for(monitor, alice, [app], name="spike", min_anomalies=5)
    login(page, asgi_server, alice.email)
    dashboard = f"{asgi_server.url}/t/{tenant_a.slug}/"
    with page.expect_websocket() as socket:
        page.goto(dashboard)
    assert "/notifications/" in socket.value.url
    assert page.locator("#open-alerts").inner_text().strip() == "No open alerts."
    time.sleep(1.5)  # the socket joins its group

    _finish(monitor, 1, anomalies=12, max_severity=0.97)

    live = page.locator('#notifications [role="alert"]')
    live.wait_for(timeout=15_000)
    assert "spike: 12 anomalies" in live.inner_text()
    assert "spike: 12 anomalies" in page.locator("#unread-notifications").inner_text()

    page.reload()
    assert "spike: 12 anomalies" in page.locator("#open-alerts").inner_text()
    assert "spike: 12 anomalies" in page.locator("#unread-notifications").inner_text()
    page.get_by_role("button", name="Mark all read").click()
    page.wait_for_url(dashboard)
    assert page.locator("#no-unread").is_visible()

    page.locator("#open-alerts a").first.click()
    page.wait_for_url("**/alerts/*/")
    assert "Delivery log" in page.content()
    assert page.locator('[data-attempt-status="succeeded"]').count() == 1
    page.get_by_role("button", name="Resolve").click()
    assert "Resolved" in page.locator("#alert-state").inner_text()
