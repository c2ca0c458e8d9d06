"""The alert pages: list (open first), one alert with its log, ack/snooze/resolve, rules, channels."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.alerts.models import Alert, AlertRule, Channel, Notification
from apps.audit.models import AuditEvent

from .conftest import make_monitor, rule_for


@pytest.fixture
def alert(monitor, alice, execute, monkeypatch):
    from apps.alerts import deliveries

    monkeypatch.setattr(deliveries, "_enqueue_after_commit", lambda pk, countdown=0.0: None)
    rule_for(monitor, alice, min_anomalies=1)
    execute(anomalies=9)
    return Alert.objects.get()


def url(name, tenant, **kw):
    return reverse(f"alerts:{name}", kwargs={"tenant_slug": tenant.slug, **kw})


def test_the_list_shows_open_alerts_first_and_filters_by_state(
    alice_client, tenant_a, alert, monitor, alice, execute
):
    from apps.alerts.services import alert_resolve

    alert_resolve(alert=alert, user=alice)
    execute(anomalies=3)  # a new open alert
    page = alice_client.get(url("list", tenant_a))
    assert page.status_code == 200
    html = page.content.decode()
    assert "3 anomalies" in html and "9 anomalies" not in html  # resolved ones hidden by default
    everything = alice_client.get(url("list", tenant_a), {"state": "all"}).content.decode()
    assert everything.index("3 anomalies") < everything.index("9 anomalies")  # open first
    resolved = alice_client.get(url("list", tenant_a), {"state": "resolved"}).content.decode()
    assert "9 anomalies" in resolved and "3 anomalies" not in resolved


def test_an_analyst_acknowledges_snoozes_and_resolves_and_each_is_audited(
    bob_client, tenant_a, alert
):
    page = bob_client.get(alert.url())
    assert page.status_code == 200 and b"Delivery log" in page.content
    assert bob_client.post(url("acknowledge", tenant_a, alert_id=alert.pk)).status_code == 302
    assert (
        bob_client.post(url("snooze", tenant_a, alert_id=alert.pk), {"hours": "4"}).status_code
        == 302
    )
    alert.refresh_from_db()
    assert alert.state == "acknowledged" and alert.snoozed
    bob_client.post(url("resolve", tenant_a, alert_id=alert.pk))
    alert.refresh_from_db()
    assert alert.state == "resolved"
    again = bob_client.post(url("resolve", tenant_a, alert_id=alert.pk), follow=True)
    assert b"resolved already" in again.content
    actions = list(
        AuditEvent.objects.filter(target_id=str(alert.pk), action__startswith="alert.").values_list(
            "action", flat=True
        )
    )
    assert {"alert.acknowledged", "alert.snoozed", "alert.resolved"} <= set(actions)


def test_a_viewer_reads_but_cannot_act_and_a_stranger_gets_404(
    vera_client, charlie_client, tenant_a, alert
):
    assert vera_client.get(alert.url()).status_code == 200
    assert vera_client.post(url("resolve", tenant_a, alert_id=alert.pk)).status_code == 403
    assert charlie_client.get(alert.url()).status_code == 404
    assert charlie_client.post(url("resolve", tenant_a, alert_id=alert.pk)).status_code == 404


def test_an_analyst_creates_edits_and_deletes_a_rule_on_a_monitor(
    bob_client, tenant_a, monitor, alice
):
    hook = Channel.objects.create(tenant=tenant_a, name="app", kind="inapp")
    rules_url = url("rules", tenant_a, monitor_id=monitor.pk)
    bad = bob_client.post(rules_url, {"name": "nothing", "match": "any", "cooldown_seconds": 60})
    assert bad.status_code == 422 and b"at least one condition" in bad.content
    ok = bob_client.post(
        rules_url,
        {"name": "spike", "match": "any", "cooldown_seconds": 60, "min_anomalies": 10,
         "on_drift": "on", "channels": [hook.pk], "enabled": "on"},
    )  # fmt: skip
    assert ok.status_code == 302
    rule = AlertRule.objects.get(name="spike")
    assert rule.min_anomalies == 10 and rule.on_drift and list(rule.channels.all()) == [hook]
    assert b"anomalies \xe2\x89\xa5 10" in bob_client.get(rules_url).content
    edit = bob_client.post(
        url("rule_edit", tenant_a, rule_id=rule.pk),
        {"name": "spike", "match": "all", "cooldown_seconds": 0, "min_anomalies": 20},
    )
    assert edit.status_code == 302
    rule.refresh_from_db()
    assert rule.match == "all" and rule.min_anomalies == 20 and not rule.channels.exists()
    bob_client.post(url("rule_delete", tenant_a, rule_id=rule.pk))
    assert not AlertRule.objects.exists()
    assert AuditEvent.objects.filter(action__startswith="alert_rule.").count() == 3


def test_a_rule_cannot_name_another_workspaces_channel(bob_client, tenant_a, tenant_b, monitor):
    foreign = Channel.objects.create(tenant=tenant_b, name="theirs", kind="inapp")
    response = bob_client.post(
        url("rules", tenant_a, monitor_id=monitor.pk),
        {
            "name": "x",
            "match": "any",
            "cooldown_seconds": 0,
            "min_anomalies": 1,
            "channels": [foreign.pk],
        },
    )
    assert response.status_code == 422 and not AlertRule.objects.exists()


def test_rules_of_another_workspaces_monitor_are_404(charlie_client, tenant_a, monitor):
    assert charlie_client.get(url("rules", tenant_a, monitor_id=monitor.pk)).status_code == 404


def test_an_admin_creates_a_webhook_channel_and_sees_its_secret_once(
    alice_client, tenant_a, settings
):
    settings.PYNOMALY_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    page = alice_client.post(
        url("channels", tenant_a),
        {
            "name": "ops",
            "kind": "webhook",
            "url": "http://127.0.0.1:9/hook",
            "format": "json",
            "enabled": "on",
        },
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "whsec_" in html and "not shown again" in html
    assert "whsec_" not in alice_client.get(url("channels", tenant_a)).content.decode()
    rotated = alice_client.post(
        url("channel_rotate", tenant_a, channel_id=Channel.objects.get().pk)
    )
    assert "whsec_" in rotated.content.decode()


def test_channel_errors_name_the_field(alice_client, tenant_a, settings):
    settings.PYNOMALY_OUTBOUND_ALLOW = []
    refused = alice_client.post(
        url("channels", tenant_a),
        {"name": "x", "kind": "webhook", "url": "http://127.0.0.1/h", "format": "json"},
    )
    assert refused.status_code == 422 and b"loopback" in refused.content
    no_one = alice_client.post(
        url("channels", tenant_a), {"name": "m", "kind": "email", "format": "json"}
    )
    assert no_one.status_code == 422 and b"at least one address" in no_one.content
    assert not Channel.objects.exists()


def test_only_admins_manage_channels(bob_client, alice_client, tenant_a):
    created = alice_client.post(
        url("channels", tenant_a),
        {
            "name": "mail",
            "kind": "email",
            "recipients": "a@example.com",
            "format": "json",
            "enabled": "on",
        },
    )
    assert created.status_code == 302
    channel = Channel.objects.get()
    assert bob_client.get(url("channels", tenant_a)).status_code == 200
    assert (
        bob_client.post(url("channels", tenant_a), {"name": "n", "kind": "inapp"}).status_code
        == 403
    )
    assert (
        bob_client.post(url("channel_delete", tenant_a, channel_id=channel.pk)).status_code == 403
    )
    edit = alice_client.post(
        url("channel_edit", tenant_a, channel_id=channel.pk),
        {"name": "mail", "recipients": "a@example.com, b@example.com", "format": "json"},
    )
    assert edit.status_code == 302
    channel.refresh_from_db()
    assert channel.recipients == ["a@example.com", "b@example.com"] and not channel.enabled
    alice_client.post(url("channel_delete", tenant_a, channel_id=channel.pk))
    assert not Channel.objects.exists()


def test_the_dashboard_lists_open_alerts_and_unread_notifications_and_marks_them_read(
    alice_client, tenant_a, alert, alice
):
    Notification.objects.create(
        tenant=tenant_a, user=alice, alert=alert, title="Spike on payments", link=alert.url()
    )
    dashboard = reverse("tenants:dashboard", kwargs={"tenant_slug": tenant_a.slug})
    html = alice_client.get(dashboard).content.decode()
    assert alert.title in html and "Spike on payments" in html
    alice_client.post(url("notifications_read", tenant_a))
    html = alice_client.get(dashboard).content.decode()
    assert "Spike on payments" not in html and "Nothing unread" in html


def test_the_monitor_filter_keeps_to_one_monitor(alice_client, tenant_a, alert, alice):
    other = make_monitor(tenant_a, alice, name="other")
    page = alice_client.get(url("list", tenant_a), {"monitor": other.pk})
    assert alert.title not in page.content.decode()
