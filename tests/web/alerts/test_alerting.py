"""Rules, grouping, cool-down, and deliveries to real loopback receivers (run in-process)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.alerts import deliveries
from apps.alerts.models import Alert, AlertTrigger, Delivery, DeliveryAttempt, Notification
from apps.audit.models import AuditEvent
from pynomaly.client.webhooks import SignatureInvalid, verify

from .conftest import rule_for, webhook_channel


@pytest.fixture
def sent(monkeypatch):
    """Deliveries enqueued (by id), instead of a broker; ``drain()`` runs them here."""
    queue: list[tuple[int, float]] = []
    monkeypatch.setattr(
        deliveries, "_enqueue_after_commit", lambda pk, countdown=0.0: queue.append((pk, countdown))
    )

    def drain(limit: int = 20) -> list[str]:
        outcomes = []
        while queue and limit:
            pk, _ = queue.pop(0)
            d = Delivery.objects.get(pk=pk)
            if d.next_attempt_at:  # as if the countdown had passed
                Delivery.objects.filter(pk=pk).update(next_attempt_at=timezone.now())
            outcomes.append(deliveries.delivery_run(delivery_id=pk))
            limit -= 1
        return outcomes

    queue_drain = drain
    queue_drain.queue = queue  # type: ignore[attr-defined]
    return queue_drain


def test_an_execution_over_the_threshold_raises_one_alert_with_one_delivery_per_channel(
    monitor, alice, tenant_a, execute, receiver, sent
):
    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=5)
    execute(anomalies=4)
    assert not Alert.objects.exists()
    execution = execute(anomalies=12)
    alert = Alert.objects.get()
    assert alert.state == "open" and alert.occurrences == 1
    assert alert.reasons == ["12 anomalies (≥ 5)"]
    assert [t.execution_id for t in alert.triggers.all()] == [execution.pk]
    assert Delivery.objects.filter(alert=alert).count() == 1
    assert AuditEvent.objects.filter(action="alert.raised").count() == 1


def test_the_same_execution_signalled_twice_raises_nothing_more(
    monitor, alice, tenant_a, execute, receiver, sent
):
    from apps.alerts.services import alerts_for_execution

    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1)
    execution = execute(anomalies=3)
    alerts_for_execution(execution=execution)
    assert AlertTrigger.objects.count() == 1
    assert Alert.objects.get().occurrences == 1
    assert Delivery.objects.count() == 1


def test_matches_during_the_cool_down_are_counted_on_the_open_alert_without_notifying(
    monitor, alice, tenant_a, execute, receiver, sent
):
    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1, cooldown_seconds=600)
    for _ in range(3):
        execute(anomalies=5)
    alert = Alert.objects.get()
    assert alert.occurrences == 3
    assert Delivery.objects.count() == 1  # one notification, not one per execution
    assert list(alert.triggers.order_by("pk").values_list("notified", flat=True)) == [
        True,
        False,
        False,
    ]
    # once the cool-down has passed, the still-open alert notifies again
    Alert.objects.filter(pk=alert.pk).update(
        last_notified_at=timezone.now() - timedelta(seconds=601)
    )
    execute(anomalies=5)
    assert Delivery.objects.count() == 2
    assert Alert.objects.get().occurrences == 4


def test_acknowledged_and_snoozed_alerts_count_but_stay_quiet_and_resolved_ones_reopen_anew(
    monitor, alice, tenant_a, execute, receiver, sent
):
    from apps.alerts.services import alert_acknowledge, alert_resolve, alert_snooze

    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1, cooldown_seconds=0)
    execute(anomalies=2)
    alert = Alert.objects.get()
    alert_snooze(alert=alert, user=alice, until=timezone.now() + timedelta(hours=1))
    execute(anomalies=2)
    alert_acknowledge(alert=alert, user=alice)
    execute(anomalies=2)
    assert Delivery.objects.count() == 1
    assert Alert.objects.get().occurrences == 3
    alert_resolve(alert=alert, user=alice)
    execute(anomalies=2)
    assert Alert.objects.count() == 2 and Delivery.objects.count() == 2
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"alert.snoozed", "alert.acknowledged", "alert.resolved"} <= actions


@pytest.mark.parametrize(
    ("conditions", "execution", "fires"),
    [
        ({"min_anomalies": 5, "on_drift": True, "match": "all"}, {"anomalies": 9}, False),
        (
            {"min_anomalies": 5, "on_drift": True, "match": "all"},
            {"anomalies": 9, "drift": {"detected": True, "features": {"b": {"drifted": True}}}},
            True,
        ),
        ({"min_anomalies": 5, "on_drift": True, "match": "any"}, {"anomalies": 9}, True),
        ({"min_severity": 0.9}, {"anomalies": 3, "max_severity": 0.95}, True),
        ({"min_severity": 0.9}, {"anomalies": 3, "max_severity": 0.5}, False),
        ({"min_flagged_share": 0.1}, {"anomalies": 50, "rows": 1000}, False),
        ({"min_flagged_share": 0.1}, {"anomalies": 150, "rows": 1000}, True),
        ({"on_failure": True}, {"status": "failed", "error": "source unreachable"}, True),
        ({"min_anomalies": 1}, {"status": "failed", "anomalies": 4}, False),
    ],
)
def test_conditions_combine_with_all_or_any(
    monitor, alice, execute, sent, conditions, execution, fires
):
    rule_for(monitor, alice, **conditions)
    execute(**execution)
    assert Alert.objects.exists() is fires


def test_drift_and_failure_say_why(monitor, alice, execute, sent):
    rule_for(monitor, alice, name="drift", on_drift=True)
    rule_for(monitor, alice, name="broken", on_failure=True)
    execute(drift={"detected": True, "features": {"amount": {"drifted": True}, "x": {}}})
    execute(status="failed", error="connection refused")
    reasons = dict(Alert.objects.values_list("rule__name", "reasons"))
    assert reasons == {
        "drift": ["drift detected in amount"],
        "broken": ["execution failed: connection refused"],
    }


def test_the_webhook_is_signed_and_carries_monitor_execution_counts_top_anomalies_and_link(
    monitor, alice, tenant_a, execute, receiver, sent
):
    hook, secret = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1)
    execute(
        anomalies=7,
        max_severity=0.97,
        drift={"detected": True, "features": {"b": {"drifted": True}}},
    )
    assert sent() == ["delivered"]
    (req,) = receiver.requests
    verify(secret, req["headers"], req["body"])  # raises if the signature is wrong
    with pytest.raises(SignatureInvalid):
        verify("whsec_wrong", req["headers"], req["body"])
    with pytest.raises(SignatureInvalid):  # a replay an hour later
        verify(
            secret,
            req["headers"],
            req["body"],
            now=int(req["headers"]["X-Pynomaly-Timestamp"]) + 3600,
        )
    body = receiver.json()
    assert req["headers"]["Idempotency-Key"] == body["idempotency_key"]
    assert body["monitor"]["name"] == "payments"
    assert body["execution"]["anomalies"] == 7 and body["execution"]["drifted_features"] == ["b"]
    assert body["counts"] == {"rows": 1000, "anomalies": 7, "occurrences": 1}
    assert body["link"].startswith("https://pynomaly.example.com/t/")
    assert "top_anomalies" in body
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status == "succeeded" and attempt.response_code == 200
    assert attempt.latency_ms is not None


def test_a_slack_webhook_gets_text_and_blocks(monitor, alice, tenant_a, execute, receiver, sent):
    hook, _ = webhook_channel(tenant_a, alice, receiver.url, fmt="slack")
    rule_for(monitor, alice, [hook], min_anomalies=1)
    execute(anomalies=3)
    sent()
    body = receiver.json()
    assert body["text"].startswith("[Pynomaly] many anomalies")
    assert body["blocks"][0]["type"] == "section"


def test_a_500_is_retried_with_backoff_and_the_receiver_sees_one_key(
    monitor, alice, tenant_a, execute, receiver, sent
):
    receiver.codes = [500, 503]
    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1)
    execute(anomalies=3)
    assert sent() == ["retrying", "retrying", "delivered"]
    waits = [c for _, c in sent.queue]
    assert waits == []  # drained
    keys = {r["headers"]["Idempotency-Key"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(keys) == 1
    log = list(DeliveryAttempt.objects.order_by("number").values_list("status", "response_code"))
    assert log == [("failed", 500), ("failed", 503), ("succeeded", 200)]
    # a copy of the message arriving after the recorded success sends nothing
    delivery = Delivery.objects.get()
    assert deliveries.delivery_run(delivery_id=delivery.pk) == "skipped"
    assert len(receiver.requests) == 3


def test_backoff_doubles_up_to_the_cap(settings):
    settings.ALERTS_RETRY_BASE_SECONDS, settings.ALERTS_RETRY_MAX_SECONDS = 5, 30
    assert [deliveries.backoff_seconds(n) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 30, 30]


def test_a_refusing_receiver_fails_at_once_and_gives_up_after_the_most_attempts(
    monitor, alice, tenant_a, execute, receiver, sent, settings
):
    receiver.codes = [404]
    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1)
    execute(anomalies=3)
    assert sent() == ["failed"]
    assert "404" in Delivery.objects.get().last_error
    settings.ALERTS_MAX_ATTEMPTS = 2
    receiver.codes = [500] * 5
    Alert.objects.update(state="resolved")
    execute(anomalies=3)
    assert sent() == ["retrying", "failed"]


def test_an_attempt_left_sending_by_a_dead_worker_is_marked_interrupted_and_sent_again(
    monitor, alice, tenant_a, execute, receiver, sent
):
    import socket

    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1)
    execute(anomalies=3)
    delivery = Delivery.objects.get()
    # as if a worker child had sent attempt 1 and died before recording it
    Delivery.objects.filter(pk=delivery.pk).update(status="sending", attempts=1)
    DeliveryAttempt.objects.create(
        tenant=tenant_a, delivery=delivery, number=1, started_at=timezone.now(),
        holder_host=socket.gethostname(), holder_pid=2**22 - 7, holder_started=1.0,
    )  # fmt: skip
    assert sent() == ["delivered"]
    log = list(DeliveryAttempt.objects.order_by("number").values_list("status", flat=True))
    assert log == ["interrupted", "succeeded"]


def test_webhooks_to_loopback_are_refused_unless_allowed(
    monitor, alice, tenant_a, execute, receiver, sent, settings
):
    from apps.alerts.services import Invalid

    settings.PYNOMALY_OUTBOUND_ALLOW = []
    with pytest.raises(Invalid, match="loopback"):
        webhook_channel(tenant_a, alice, receiver.url)
    with pytest.raises(Invalid, match="metadata"):
        webhook_channel(tenant_a, alice, "http://169.254.169.254/latest")
    settings.PYNOMALY_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1)
    settings.PYNOMALY_OUTBOUND_ALLOW = []  # checked again at send time
    execute(anomalies=3)
    assert sent() == ["failed"]
    assert "loopback" in Delivery.objects.get().last_error and not receiver.requests


def test_the_secret_is_encrypted_at_rest_and_never_audited(monitor, alice, tenant_a, receiver):
    from apps.alerts.models import Channel

    hook, secret = webhook_channel(tenant_a, alice, receiver.url)
    stored = Channel.objects.get(pk=hook.pk).secret_encrypted
    assert secret.startswith("whsec_") and secret not in stored
    trail = " ".join(str(e.details) for e in AuditEvent.objects.all())
    assert secret not in trail and stored not in trail


def test_email_goes_to_the_addresses_and_the_members_of_the_roles(
    monitor, alice, bob, vera, tenant_a, execute, sent
):
    from apps.alerts.services import ChannelData, channel_create

    channel, _ = channel_create(
        tenant=tenant_a,
        user=alice,
        data=ChannelData(
            name="mail", kind="email", recipients=["oncall@example.com"], roles=["analyst"]
        ),
    )
    rule_for(monitor, alice, [channel], min_anomalies=1)
    execute(anomalies=3)
    assert sent() == ["delivered"]
    (message,) = mail.outbox
    assert sorted(message.to) == ["bob@example.com", "oncall@example.com"]
    assert "many anomalies" in message.subject
    assert message.extra_headers["Message-ID"].startswith("<alert-")


def test_in_app_notifies_every_member_once_and_they_mark_it_read(
    monitor, alice, bob, tenant_a, execute, sent
):
    from apps.alerts.services import ChannelData, channel_create, notifications_mark_read

    channel, _ = channel_create(
        tenant=tenant_a, user=alice, data=ChannelData(name="app", kind="inapp")
    )
    rule_for(monitor, alice, [channel], min_anomalies=1)
    execute(anomalies=3)
    assert sent() == ["delivered"]
    delivery = Delivery.objects.get()
    from apps.alerts.transports import send_inapp

    send_inapp(delivery, {"alert": {}, "idempotency_key": "x"} | _payload(delivery))  # again
    assert Notification.objects.filter(user=alice).count() == 1
    assert Notification.objects.filter(user=bob).count() == 1
    assert notifications_mark_read(user=bob, tenant=tenant_a) == 1
    assert Notification.objects.filter(user=alice, read_at__isnull=True).count() == 1


def _payload(delivery):
    from apps.alerts.payloads import build

    return build(delivery)


def test_the_sweeper_re_sends_deliveries_whose_message_was_lost(
    monitor, alice, tenant_a, execute, receiver, sent, settings
):
    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    rule_for(monitor, alice, [hook], min_anomalies=1)
    execute(anomalies=3)
    sent.queue.clear()  # as if the broker lost the message
    assert deliveries.deliveries_sweep()["resent"] == 0  # not yet: it may still be on its way
    later = timezone.now() + timedelta(seconds=settings.ALERTS_RESEND_AFTER_SECONDS + 1)
    assert deliveries.deliveries_sweep(now=later)["resent"] == 1
    assert sent() == ["delivered"] and len(receiver.requests) == 1
    assert deliveries.deliveries_sweep(now=later + timedelta(hours=1))["resent"] == 0


def test_a_broken_rule_does_not_silence_the_others_and_in_app_goes_out_first(
    monitor, alice, tenant_a, execute, receiver, sent, monkeypatch
):
    from apps.alerts import services
    from apps.alerts.services import ChannelData, channel_create

    hook, _ = webhook_channel(tenant_a, alice, receiver.url)
    app, _ = channel_create(tenant=tenant_a, user=alice, data=ChannelData(name="app", kind="inapp"))
    rule_for(monitor, alice, [hook], name="a broken", min_anomalies=1)
    rule_for(monitor, alice, [hook, app], name="b fine", min_anomalies=1)
    real = services.rule_reasons

    def reasons(rule, execution):
        if rule.name == "a broken":
            raise RuntimeError("bug")
        return real(rule, execution)

    monkeypatch.setattr(services, "rule_reasons", reasons)
    execute(anomalies=3)
    assert list(Alert.objects.values_list("rule__name", flat=True)) == ["b fine"]
    kinds = [Delivery.objects.get(pk=pk).channel.kind for pk, _ in sent.queue]
    assert kinds == ["inapp", "webhook"]
