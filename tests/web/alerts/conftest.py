"""Alerts fixtures: a monitor of tenant A, executions made to order, a loopback webhook receiver."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone


@pytest.fixture(autouse=True)
def _alert_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PYNOMALY_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    settings.ALERTS_RETRY_BASE_SECONDS = 0.05
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PUBLIC_URL = "https://pynomaly.example.com"


def make_monitor(tenant, user, name: str = "payments"):
    from apps.monitors.models import Monitor
    from tests.web.runs.factories import blobs, make_config, make_version

    version = make_version(tenant, blobs(50), user=user)
    config = make_config(tenant, user, name=f"cfg-{name}")
    return Monitor.objects.create(
        tenant=tenant,
        name=name,
        dataset=version.dataset,
        detector_version=config.current,
        interval_seconds=60,
        created_by=user,
    )


@pytest.fixture
def monitor(tenant_a, alice):
    return make_monitor(tenant_a, alice)


class Executions:
    def __init__(self, monitor):
        self.monitor, self.n = monitor, 0

    def __call__(self, *, status="succeeded", rows=1000, anomalies=0, max_severity=None,
                 flagged_share=None, drift=None, error="", send=True):  # fmt: skip
        from apps.monitors.models import MonitorExecution
        from apps.monitors.signals import execution_finished

        self.n += 1
        execution = MonitorExecution.objects.create(
            tenant=self.monitor.tenant,
            monitor=self.monitor,
            number=self.n,
            status=status,
            rows=rows,
            anomalies=anomalies,
            max_severity=max_severity,
            flagged_share=flagged_share if flagged_share is not None else anomalies / rows,
            drift=drift or {"detected": False, "features": {}},
            error=error,
            finished_at=timezone.now(),
        )
        if send:
            execution_finished.send(sender=MonitorExecution, execution=execution)
        return execution


@pytest.fixture
def execute(monitor):
    return Executions(monitor)


class Receiver:
    """An http.server on loopback recording every request; answers from ``codes`` in turn."""

    def __init__(self):
        self.requests: list[dict] = []
        self.codes: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def json(self, i: int = -1) -> dict:
        return json.loads(self.requests[i]["body"])

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def webhook_channel(tenant, user, url, *, name="ops hook", fmt="json"):
    from apps.alerts.services import ChannelData, channel_create

    return channel_create(
        tenant=tenant, user=user, data=ChannelData(name=name, kind="webhook", url=url, format=fmt)
    )


def rule_for(monitor, user, channels=(), **conditions):
    from apps.alerts.services import RuleData, rule_create

    conditions.setdefault("name", "many anomalies")
    return rule_create(
        monitor=monitor,
        user=user,
        data=RuleData(channel_ids=[c.pk for c in channels], **conditions),
    )
