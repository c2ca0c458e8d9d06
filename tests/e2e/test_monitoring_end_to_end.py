"""Continuous detection end to end, with every part real: a MariaDB table fills with rows, alice
connects it and creates a monitor in the browser that runs every few seconds (django-celery-beat's
scheduler in its own process, a Celery worker), anomalous rows with a drifted column are
inserted, and the webhook receiver, the SMTP server and alice's dashboard each get the alert
exactly once, while the monitor page shows the drift."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.conftest import login
from tests.integration.test_alerts_live import WebhookReceiver
from tests.integration.test_monitor_schedule import beat  # noqa: F401 - the beat process
from tests.web.sources.conftest import maria_db  # noqa: F401 - a real MariaDB database

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

INTERVAL = 5  # the shortest interval a monitor accepts


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return settings.MEDIA_ROOT


@pytest.fixture
def receivers(settings):
    """A signed-webhook receiver and an SMTP server on loopback; the worker mails through it."""
    from aiosmtpd.controller import Controller

    from tests.conftest import _free_port
    from tests.integration.test_alerts_live import Mailbox

    hook = WebhookReceiver()
    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    settings.PYNOMALY_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    settings.PUBLIC_URL = "http://pynomaly.test"
    yield hook, box
    smtp.stop()
    hook.close()


def _rows(rng, n: int, *, pressure: float = 1013.0, spikes: int = 0) -> list[tuple]:
    temperature = rng.normal(20, 1, n)
    pressure_col = rng.normal(pressure, 2, n)
    vibration = rng.normal(0.5, 0.05, n)
    temperature[:spikes] += 25  # far outside anything seen in training
    vibration[:spikes] += 3
    return [
        (float(a), float(b), float(c))
        for a, b, c in zip(temperature, pressure_col, vibration, strict=True)
    ]


def _wait(predicate, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.5)
    return value


def test_a_database_monitor_tells_mail_webhook_and_dashboard_once_with_drift_shown(
    live_media,
    receivers,
    asgi_server,
    celery_worker,
    beat,  # noqa: F811
    page,
    alice,
    tenant_a,
    maria_db,  # noqa: F811
):
    from apps.alerts.services import ChannelData, RuleData, channel_create, rule_create
    from apps.detectors.services import detector_config_create
    from apps.monitors.models import Monitor
    from apps.sources.services import source_create
    from pynomaly.detect import PipelineConfig

    hook, mailbox = receivers
    rng = np.random.default_rng(7)
    maria_db.execute(
        "CREATE TABLE plant (id INT AUTO_INCREMENT PRIMARY KEY, temperature DOUBLE, "
        "pressure DOUBLE, vibration DOUBLE)"
    )
    insert = "INSERT INTO plant (temperature, pressure, vibration) VALUES (%s, %s, %s)"
    maria_db.executemany(insert, _rows(rng, 400))

    source = source_create(
        tenant=tenant_a, user=alice,
        data={"name": "plant floor", "url": maria_db.url(), "table": "plant", "watermark_column": "id"},
    )  # fmt: skip
    pipeline = PipelineConfig(detectors=(("iforest", {}),), exclude_columns=("id",)).to_dict()
    config = detector_config_create(
        tenant=tenant_a, user=alice, name="plant forest", pipeline=pipeline
    )
    hook_channel, hook.secret = channel_create(
        tenant=tenant_a, user=alice,
        data=ChannelData(name="ops hook", kind="webhook", url=hook.url),
    )  # fmt: skip
    mail, _ = channel_create(
        tenant=tenant_a, user=alice,
        data=ChannelData(name="on call", kind="email", recipients=["oncall@example.com"]),
    )  # fmt: skip
    app, _ = channel_create(tenant=tenant_a, user=alice, data=ChannelData(name="app", kind="inapp"))

    # alice creates the monitor in the browser.
    login(page, asgi_server, alice.email)
    page.goto(f"{asgi_server.url}/t/{tenant_a.slug}/monitors/")
    page.click("text=New monitor")
    page.fill("input[name=name]", "plant")
    page.check("input[name=watch][value=source]")
    page.select_option("select[name=source]", str(source.pk))
    page.select_option("select[name=detector]", str(config.pk))
    page.select_option("select[name=schedule]", "interval")
    page.fill("input[name=interval_seconds]", str(INTERVAL))
    page.click("text=Create monitor")
    page.wait_for_url(lambda url: "/monitors/new/" not in url)
    monitor = Monitor.objects.get(tenant=tenant_a, name="plant")
    rule_create(
        monitor=monitor, user=alice,
        data=RuleData(name="plant trouble", min_anomalies=5, on_drift=True, match="all",
                      channel_ids=[hook_channel.pk, mail.pk, app.pk]),
    )  # fmt: skip

    # Beat ticks it; the first execution pulls the 400 rows and fits the model: no drift, no alert.
    first = _wait(
        lambda: monitor.executions.filter(status="succeeded").first(), "the first execution"
    )
    assert first.rows == 400 and first.retrained and not first.drift_detected

    dashboard = f"{asgi_server.url}/t/{tenant_a.slug}/"
    with page.expect_websocket():
        page.goto(dashboard)
    time.sleep(1.5)  # the socket joins its group
    # Anomalous rows arrive, and the pressure sensor drifts by 40 hPa.
    maria_db.executemany(insert, _rows(rng, 120, pressure=1053.0, spikes=12))

    alerted = _wait(
        lambda: monitor.executions.filter(status="succeeded", rows=120).first(),
        "the execution of the new rows",
    )
    assert alerted.drift_detected and "pressure" in alerted.drift["drifted"]
    assert alerted.anomalies >= 12 and not alerted.retrained
    _wait(lambda: hook.requests and mailbox.messages, "the webhook and the mail")
    live = page.locator('#notifications [role="alert"]')
    live.wait_for(timeout=30_000)
    assert "plant trouble" in live.inner_text()

    # More ticks come and find nothing new; nothing more is sent.
    _wait(lambda: monitor.executions.filter(number__gt=alerted.number).exists(), "a later tick")
    time.sleep(2 * INTERVAL)
    assert len(hook.alerts_seen) == 1 and hook.bad_signatures == 0
    body = hook.requests[0]["body"]
    assert body["execution"]["anomalies"] == alerted.anomalies
    assert "pressure" in str(body["execution"])
    assert len(mailbox.messages) == 1 and mailbox.messages[0]["to"] == ["oncall@example.com"]
    page.reload()
    assert page.locator("#unread-notifications li").count() == 1

    # The monitor page shows the drift of that execution.
    page.goto(
        f"{asgi_server.url}/t/{tenant_a.slug}/monitors/{monitor.pk}/?execution={alerted.number}"
    )
    drift = page.inner_text("#monitor-drift")
    assert "pressure" in drift
