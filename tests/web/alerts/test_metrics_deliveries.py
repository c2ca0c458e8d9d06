"""``pynomaly_alert_deliveries{status}`` follows real deliveries to a loopback receiver."""

from __future__ import annotations

import time

from django.test import Client

from apps.common import metrics
from tests.web.test_metrics import _value

from .conftest import rule_for, webhook_channel
from .test_alerting import sent  # noqa: F401  (fixture)


def test_deliveries_by_status_come_from_the_database(
    monitor,
    alice,
    tenant_a,
    execute,
    receiver,
    sent,  # noqa: F811
    monkeypatch,
    settings,
):
    settings.DEBUG = False
    monkeypatch.setenv("METRICS_TOKEN", "t")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(metrics, "_workers_cache", (time.monotonic(), 0))

    def scrape() -> str:
        response = Client().get("/metrics", headers={"Authorization": "Bearer t"})
        assert response.status_code == 200
        return response.content.decode()

    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1)
    execute(anomalies=3)
    text = scrape()
    assert _value(text, "pynomaly_alert_deliveries", status="pending") == 1
    assert _value(text, "pynomaly_alert_deliveries", status="delivered") == 0
    sent()
    assert len(receiver.requests) == 1
    text = scrape()
    assert _value(text, "pynomaly_alert_deliveries", status="pending") == 0
    assert _value(text, "pynomaly_alert_deliveries", status="delivered") == 1
