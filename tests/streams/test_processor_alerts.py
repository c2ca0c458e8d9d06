"""A stream's alert rule raises an alert on a closed window, once, with a stream payload."""

from __future__ import annotations

import pytest

from apps.alerts import payloads, services
from apps.alerts.models import Alert, AlertTrigger, Delivery
from apps.streams.models import Stream
from apps.streams.sources.redis import produce

from .conftest import make_stream, sensor_frame, wait_for
from .conftest import payloads as records

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stream_rule_raises_an_alert_on_a_window_with_anomalies(
    model, tenant_a, alice, redis_key, processor, settings
):
    settings.STREAMS_ALERT_WINDOW_SECONDS = 2
    fitted, trained = model
    stream = make_stream(tenant_a, trained, redis_key)
    channel, _ = services.channel_create(
        tenant=tenant_a, user=alice, data=services.ChannelData(name="bell", kind="inapp")
    )
    rule = services.rule_create(
        stream=stream,
        user=alice,
        data=services.RuleData(name="spikes", min_anomalies=5, channel_ids=[channel.pk]),
    )
    quiet = services.rule_create(
        stream=stream, user=alice, data=services.RuleData(name="flood", min_anomalies=10_000)
    )
    processor(stream.pk)
    frame = sensor_frame(rows=1000, seed=8, anomalies=40)
    produce({"key": redis_key}, records(frame))
    wait_for(lambda: Alert.objects.filter(rule=rule).exists(), timeout=120)

    alert = Alert.objects.get(rule=rule)
    assert alert.stream_id == stream.pk and alert.monitor_id is None
    assert "anomalies in 2 s (≥ 5)" in alert.title
    trigger = AlertTrigger.objects.get(rule=rule)
    assert trigger.stream_window is not None and trigger.notified
    delivery = Delivery.objects.get(trigger=trigger, channel=channel)
    body = payloads.build(delivery)
    assert body["stream"]["id"] == stream.pk
    assert body["window"]["anomalies"] >= 5
    assert body["top_anomalies"] and body["top_anomalies"][0]["event_id"].startswith("e")
    assert "stream" in payloads.headline(body) and "Records" in payloads.text(body)
    assert not Alert.objects.filter(rule=quiet).exists()

    # the same window again (another processor, a restart): nothing new
    figures = {"records": 1000, "anomalies": 40, "max_severity": 100.0, "flagged_share": 0.04}
    again = services.alerts_for_stream_window(
        stream=Stream.objects.get(pk=stream.pk),
        window_start=trigger.stream_window,
        figures=figures,
    )
    assert again == []
    assert AlertTrigger.objects.filter(rule=rule, stream_window=trigger.stream_window).count() == 1


def test_a_stream_rule_cannot_watch_for_failures(model, tenant_a, alice, redis_key):
    _, trained = model
    stream = make_stream(tenant_a, trained, redis_key)
    with pytest.raises(services.Invalid) as caught:
        services.rule_create(
            stream=stream, user=alice, data=services.RuleData(name="x", on_failure=True)
        )
    assert caught.value.errors[0][0] == "on_failure"
