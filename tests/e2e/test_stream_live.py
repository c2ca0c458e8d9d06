"""A stream's page in a real Chromium: the stored history drawn, the processor's message applied
live (chart, threshold, figures, anomalies) without a reload, and a reconnect re-reading what
the page missed; no sideways scroll on a phone, a tablet or a laptop."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.streams.groups import publish
from apps.streams.models import StreamAnomaly
from tests.conftest import login
from tests.e2e.test_every_width import OVERFLOW, WIDTHS
from tests.web.streams.support import make_stream, store_history

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _publish(stream_id: int, message: dict) -> None:
    """The processor's call, from another thread: Playwright's loop runs in this one."""
    worker = threading.Thread(target=publish, args=(stream_id, message))
    worker.start()
    worker.join(timeout=10)


def _messages(page) -> int:
    return int(page.get_attribute("#stream-live", "data-messages") or 0)


def test_the_stream_page_updates_live_and_rereads_its_state_on_reconnect(
    alice, tenant_a, asgi_server, page
):
    stream = make_stream(tenant_a, alice, threshold=0.6)
    store_history(stream, seconds=3, anomalies=1)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, asgi_server, alice.email)
    page.goto(f"{asgi_server.url}{stream.url()}")

    # The stored state, sent on connect: per second a low and a high point, the anomaly.
    page.wait_for_selector('#stream-live[data-messages="1"]')
    page.wait_for_selector("#stream-chart .main-svg")
    assert int(page.get_attribute("#stream-chart", "data-points")) == 6
    assert page.get_attribute("#stream-chart", "data-threshold") == "0.6"
    assert page.locator("#stream-anomalies tr[data-anomaly]").count() == 1
    assert page.inner_text("#live-connection") == "live"

    # The processor stores a new anomaly and sends its message: the page follows, no reload.
    now = timezone.now()
    fresh = StreamAnomaly.objects.create(
        tenant=tenant_a, stream=stream, event_id="spike-42", event_time=now, score=3.5,
        severity=1.0, reasons=[{"column": "pressure", "value": 9.9, "contribution": 0.9}],
        record={"pressure": 9.9},
    )  # fmt: skip
    ms = int(now.timestamp() * 1000)
    _publish(stream.pk, {
        "points": [[ms - 1000, 0.2, 0], [ms, 3.5, 1]],
        "threshold": 0.75,
        "stats": {"records_total": 999, "anomalies_total": 2, "dead_letters_total": 0,
                  "records_per_second": 321.0, "lag": 42, "drift": {"pressure": True},
                  "status": "active"},
        "anomalies": [{"id": fresh.pk, "event_id": "spike-42", "event_time": now.isoformat(),
                       "score": 3.5, "severity": 1.0, "reasons": fresh.reasons}],
    })  # fmt: skip
    page.wait_for_selector(f'#stream-anomalies tr[data-anomaly="{fresh.pk}"]')
    assert page.url.endswith(stream.url())  # the same page: nothing reloaded it
    assert int(page.get_attribute("#stream-chart", "data-points")) == 8
    assert page.get_attribute("#stream-chart", "data-threshold") == "0.75"
    assert page.inner_text("#stat-lag") == "42"
    assert page.inner_text("#stat-records_per_second") == "321.0"
    assert page.locator('#stat-drift [data-drift="pressure"]').count() == 1
    first_row = page.locator("#stream-anomalies tr[data-anomaly]").first
    assert "spike-42" in first_row.inner_text() and "pressure=9.9" in first_row.inner_text()

    # The socket drops; meanwhile an anomaly is stored whose message nobody gets (at most once).
    before = _messages(page)
    page.evaluate("window.pynomalyStream.socket.close()")
    missed = StreamAnomaly.objects.create(
        tenant=tenant_a, stream=stream, event_id="missed-7", event_time=now + timedelta(seconds=1),
        score=2.0, severity=0.7, reasons=[], record={},
    )  # fmt: skip
    page.wait_for_function(
        "(n) => Number(document.getElementById('stream-live').dataset.messages) > n",
        arg=before,
        timeout=30000,
    )
    page.wait_for_selector(f'#stream-anomalies tr[data-anomaly="{missed.pk}"]')
    assert page.get_attribute("#stream-live", "data-connected") == "true"
    # The reset re-read the stored history: the published-only points are gone, the 3 s stay.
    assert int(page.get_attribute("#stream-chart", "data-points")) == 6
    assert page.get_attribute("#stream-chart", "data-threshold") == "0.6"

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)  # Plotly's responsive relayout
        assert page.evaluate(OVERFLOW) == [], width
    assert errors == []
