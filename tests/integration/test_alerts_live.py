"""Alerts end to end with real receivers on loopback and real workers.

An aiosmtpd SMTP server behind Django's SMTP backend, an http.server webhook receiver that
checks every signature and drops repeated idempotency keys (as a careful receiver would), a
real prefork Celery worker as a subprocess (killed mid-delivery in one test), and a real
WebSocket on the dashboard's notifications socket.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from pynomaly.client.webhooks import verify
from tests.conftest import _free_port, run_async
from tests.integration.test_crash_recovery import _wait, crash_redis, stack  # noqa: F401
from tests.web.alerts.conftest import make_monitor, rule_for, webhook_channel

pytestmark = pytest.mark.integration


# ---------------------------------------------------------------- receivers
class WebhookReceiver:
    """Verifies each request's signature with the channel's secret; counts alerts by key."""

    def __init__(self):
        self.secret = ""
        self.requests: list[dict] = []
        self.codes: list[int] = []
        self.delay_first = 0.0
        self.first_arrived = threading.Event()
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    verify(receiver.secret, dict(self.headers), body)
                except ValueError:
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.requests.append(
                    {"key": self.headers["Idempotency-Key"], "body": json.loads(body),
                     "at": time.time()}
                )  # fmt: skip
                if len(receiver.requests) == 1 and receiver.delay_first:
                    receiver.first_arrived.set()
                    time.sleep(receiver.delay_first)  # the sender is killed meanwhile
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pynomaly"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def alerts_seen(self) -> set[str]:
        """What the receiver acts on: one per idempotency key."""
        return {r["key"] for r in self.requests}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_receiver():
    r = WebhookReceiver()
    yield r
    r.close()


class Mailbox:
    def __init__(self):
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(
            {"to": list(envelope.rcpt_tos), "data": envelope.content.decode(errors="replace")}
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def alerting(settings, stack, monkeypatch, smtp_server):  # noqa: F811
    """The stack's worker delivers; the test process evaluates rules and enqueues on its broker."""
    from apps.alerts import deliveries

    settings.PYNOMALY_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    stack.env.update({
        "PYNOMALY_OUTBOUND_ALLOW": "127.0.0.0/8",
        "ALERTS_RETRY_BASE_SECONDS": "0.3",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "PUBLIC_URL": "http://pynomaly.test",
    })  # fmt: skip
    monkeypatch.setattr(
        deliveries, "_enqueue", lambda pk, countdown=0.0: stack.send("alerts.deliver", [pk])
    )
    return stack


def _finish(monitor, number: int, **fields):
    from apps.monitors.models import MonitorExecution
    from apps.monitors.signals import execution_finished

    execution = MonitorExecution.objects.create(
        tenant=monitor.tenant, monitor=monitor, number=number, status="succeeded", rows=1000,
        finished_at=timezone.now(), **fields,
    )  # fmt: skip
    execution_finished.send(sender=MonitorExecution, execution=execution)
    return execution


def _delivered_all() -> bool:
    from apps.alerts.models import Delivery

    return not Delivery.objects.exclude(status__in=Delivery.TERMINAL).exists()


# ---------------------------------------------------------------- the tests
def test_a_real_worker_emails_through_smtp_and_posts_a_signed_webhook_once(
    alerting, alice, tenant_a, bob, hook_receiver, smtp_server
):
    from apps.alerts.models import Delivery
    from apps.alerts.services import ChannelData, channel_create

    monitor = make_monitor(tenant_a, alice)
    hook, hook_receiver.secret = webhook_channel(tenant_a, alice, hook_receiver.url)
    mail, _ = channel_create(
        tenant=tenant_a, user=alice,
        data=ChannelData(name="mail", kind="email", recipients=["oncall@example.com"], roles=["analyst"]),
    )  # fmt: skip
    rule_for(monitor, alice, [hook, mail], min_anomalies=5, cooldown_seconds=3600)
    alerting.start_worker()
    _finish(monitor, 1, anomalies=40, max_severity=0.99, flagged_share=0.04)
    _finish(monitor, 2, anomalies=41, max_severity=0.99, flagged_share=0.04)  # cool-down: counted
    _wait(lambda: len(smtp_server.messages) >= 1 and hook_receiver.requests, timeout=90,
          what="the mail and the webhook arrive")  # fmt: skip
    _wait(_delivered_all, timeout=30, what="both deliveries recorded")
    time.sleep(1.0)  # nothing more may come
    assert len(hook_receiver.requests) == 1 and hook_receiver.bad_signatures == 0
    body = hook_receiver.requests[0]["body"]
    assert body["execution"]["anomalies"] == 40 and body["monitor"]["name"] == monitor.name
    assert body["link"].startswith("http://pynomaly.test/t/")
    (message,) = smtp_server.messages
    assert sorted(message["to"]) == ["bob@example.com", "oncall@example.com"]
    parsed = email.message_from_string(message["data"], policy=email.policy.default)
    assert parsed["subject"].strip().startswith("[Pynomaly] many anomalies: 40 anomalies")
    assert parsed["message-id"].startswith("<alert-")
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_receiver_answering_500_gets_retries_with_backoff_until_it_succeeds(
    alerting, alice, tenant_a, hook_receiver
):
    from apps.alerts.models import DeliveryAttempt

    monitor = make_monitor(tenant_a, alice)
    hook, hook_receiver.secret = webhook_channel(tenant_a, alice, hook_receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1)
    hook_receiver.codes = [500, 500]
    alerting.start_worker()
    _finish(monitor, 1, anomalies=3)
    _wait(_delivered_all, timeout=90, what="delivered after two 500s")
    log = list(DeliveryAttempt.objects.order_by("number").values_list("status", "response_code"))
    assert log == [("failed", 500), ("failed", 500), ("succeeded", 200)]
    times = [r["at"] for r in hook_receiver.requests]
    # Exponential: each retry waits at least its backoff, 0.3 s then 0.6 s. Lower bounds only: a
    # busy machine lengthens a wait (a delayed first retry once made it longer than the second).
    assert times[1] - times[0] >= 0.3 - 0.05
    assert times[2] - times[1] >= 0.6 - 0.05
    assert len(hook_receiver.alerts_seen) == 1


def test_a_worker_killed_mid_delivery_still_delivers_the_alert_exactly_once(
    alerting, alice, tenant_a, hook_receiver, capsys
):
    from apps.alerts.models import Delivery, DeliveryAttempt

    monitor = make_monitor(tenant_a, alice)
    hook, hook_receiver.secret = webhook_channel(tenant_a, alice, hook_receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1)
    hook_receiver.delay_first = 5.0
    alerting.start_worker()
    _finish(monitor, 1, anomalies=3)
    assert hook_receiver.first_arrived.wait(90), "the first request never arrived"
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status == "sending" and attempt.holder_pid != alerting.worker.pid
    os.kill(attempt.holder_pid, signal.SIGKILL)  # the pool child, while the receiver holds it
    killed = time.monotonic()
    _wait(_delivered_all, timeout=90, what="delivered after the kill")
    with capsys.disabled():
        print(f"\n[alerts] delivered {time.monotonic() - killed:.1f} s after killing the sender")
    assert len(hook_receiver.requests) == 2  # sent again: the first outcome was never recorded
    assert len(hook_receiver.alerts_seen) == 1  # ...with the same key: the receiver sees one alert
    log = list(DeliveryAttempt.objects.order_by("number").values_list("status", flat=True))
    assert log == ["interrupted", "succeeded"]
    assert Delivery.objects.get().status == "delivered"


def test_an_in_app_alert_reaches_a_members_connected_websocket(
    asgi_server, celery_worker, alice, tenant_a, settings
):
    from apps.alerts.models import Notification
    from apps.alerts.services import ChannelData, channel_create
    from tests.integration.test_realtime import _connect, _session_cookie

    monitor = make_monitor(tenant_a, alice)
    app, _ = channel_create(tenant=tenant_a, user=alice, data=ChannelData(name="app", kind="inapp"))
    rule_for(monitor, alice, [app], name="drift watch", on_drift=True)
    cookie = _session_cookie(asgi_server, alice.email)

    async def scenario():
        ws = await _connect(asgi_server, f"/ws/t/{tenant_a.slug}/notifications/", cookie=cookie)
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), timeout=10) == "pong"
        started = time.monotonic()
        await asyncio.to_thread(
            _finish, monitor, 1,
            drift={"detected": True, "features": {"amount": {"drifted": True}}},
        )  # fmt: skip
        html = await asyncio.wait_for(ws.recv(), timeout=20)
        took = time.monotonic() - started
        await ws.close()
        return html, took

    html, took = run_async(scenario())
    assert "drift watch: drift detected in amount" in html
    assert 'id="unread-notifications"' in html
    # the nudge goes first; the member's row is written right after it
    _wait(
        lambda: Notification.objects.filter(user=alice, read_at__isnull=True).count() == 1,
        timeout=10,
        what="alice's unread notification is recorded",
    )
    assert took < 10


def test_the_sdk_and_the_cli_list_and_handle_alerts_on_the_real_server(
    asgi_server, alice, tenant_a, monkeypatch, tmp_path, capsys
):
    from apps.alerts import deliveries
    from apps.api.services import token_create
    from pynomaly import cli, config
    from pynomaly.client import Client, NotFound, ValidationError

    monkeypatch.setattr(deliveries, "_enqueue", lambda pk, countdown=0.0: None)
    monitor = make_monitor(tenant_a, alice)
    _token, raw = token_create(user=alice, tenant=tenant_a, name="alerts sdk", scope="write")
    with Client(asgi_server.url, raw) as api:
        app = api.channels.create("app", "inapp")
        rule = api.alert_rules.create(monitor.pk, "spike", min_anomalies=5, channel_ids=[app.id])
        assert rule.conditions == ["anomalies ≥ 5"] and rule.channel_ids == [app.id]
        with pytest.raises(ValidationError, match="at least one condition"):
            api.alert_rules.create(monitor.pk, "empty")
        _finish(monitor, 1, anomalies=9)
        (alert,) = api.alerts.list(state="open", monitor_id=monitor.pk)
        assert alert.title.startswith("spike: 9 anomalies")
        assert api.alerts.snooze(alert.id, hours=1).snoozed_until is not None
        with pytest.raises(NotFound):
            api.alerts.get(alert.id + 1000)

    monkeypatch.setenv("PYNOMALY_CONFIG", str(tmp_path / "cfg.json"))
    config.save_login(asgi_server.url, raw)
    assert cli.main(["alerts", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{alert.id}" in out and "open" in out and "1 alerts" in out
    assert cli.main(["alerts", "ack", str(alert.id)]) == 0
    assert "acknowledged" in capsys.readouterr().out
    assert cli.main(["alerts", "resolve", str(alert.id)]) == 0
    assert cli.main(["alerts", "resolve", str(alert.id)]) == 2  # refused: resolved already
    assert "resolved already" in capsys.readouterr().err
    assert cli.main(["alerts", "deliveries", str(alert.id)]) == 0
    assert "0 attempts" in capsys.readouterr().out  # no worker here: nothing sent yet
    assert cli.main(["alerts", "list", "--state", "resolved", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["state"] == "resolved"
