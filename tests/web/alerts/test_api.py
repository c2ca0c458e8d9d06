"""/api/v1/alerts (+ acknowledge / snooze / resolve / deliveries), monitor rules, channels."""

from __future__ import annotations

import pytest

from apps.alerts.models import Alert, AlertRule, Channel
from tests.web.api.conftest import Api, assert_problem, make_token

from .conftest import rule_for


@pytest.fixture(autouse=True)
def _limits(settings):
    from apps.api import throttling

    settings.API_RATE_PER_TOKEN = settings.API_RATE_PER_IP = settings.API_RATE_ANON = "10000/min"
    throttling.reset_all()


@pytest.fixture
def api(alice, tenant_a):
    return Api(make_token(alice, tenant_a)[1])


@pytest.fixture
def bob_api(bob, tenant_a):
    return Api(make_token(bob, tenant_a)[1])


@pytest.fixture
def vera_api(vera, tenant_a):
    return Api(make_token(vera, tenant_a)[1])


@pytest.fixture
def charlie_api(charlie, tenant_b):
    return Api(make_token(charlie, tenant_b)[1])


@pytest.fixture
def alert(monitor, alice, execute, monkeypatch):
    from apps.alerts import deliveries

    monkeypatch.setattr(deliveries, "_enqueue_after_commit", lambda pk, countdown=0.0: None)
    rule_for(monitor, alice, min_anomalies=1)
    execute(anomalies=4)
    return Alert.objects.get()


def test_alerts_are_listed_filtered_and_handled(api, alert, monitor):
    body = api.get("/alerts", {"state": "open", "monitor_id": monitor.pk}).json()
    assert [a["id"] for a in body["items"]] == [alert.pk]
    assert body["items"][0]["url"].endswith(f"/alerts/{alert.pk}/")
    assert api.get("/alerts", {"state": "resolved"}).json()["items"] == []
    assert api.post(f"/alerts/{alert.pk}/acknowledge").json()["state"] == "acknowledged"
    snoozed = api.post(f"/alerts/{alert.pk}/snooze", json={"hours": 2}).json()
    assert snoozed["snoozed_until"] is not None
    assert_problem(api.post(f"/alerts/{alert.pk}/snooze", json={}), 422)
    assert api.post(f"/alerts/{alert.pk}/resolve").json()["state"] == "resolved"
    assert_problem(api.post(f"/alerts/{alert.pk}/resolve"), 409)
    assert api.get(f"/alerts/{alert.pk}/deliveries").json() == {"items": []}


def test_a_viewer_reads_alerts_but_cannot_change_them_and_a_stranger_sees_none(
    vera_api, charlie_api, alert
):
    assert vera_api.get(f"/alerts/{alert.pk}").status_code == 200
    assert_problem(vera_api.post(f"/alerts/{alert.pk}/resolve"), 403)
    assert_problem(charlie_api.get(f"/alerts/{alert.pk}"), 404)
    assert_problem(charlie_api.post(f"/alerts/{alert.pk}/acknowledge"), 404)
    assert charlie_api.get("/alerts").json()["items"] == []


def test_rules_of_a_monitor_are_created_changed_and_deleted(bob_api, monitor, tenant_a):
    channel = Channel.objects.create(tenant=tenant_a, name="app", kind="inapp")
    created = bob_api.post(
        f"/monitors/{monitor.pk}/rules",
        json={"name": "spike", "min_anomalies": 10, "on_drift": True, "match": "all",
              "cooldown_seconds": 300, "channel_ids": [channel.pk]},
    )  # fmt: skip
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["conditions"] == ["anomalies ≥ 10", "drift detected"]
    assert rule["channel_ids"] == [channel.pk]
    listed = bob_api.get(f"/monitors/{monitor.pk}/rules").json()["items"]
    assert [r["name"] for r in listed] == ["spike"]
    patched = bob_api.patch(f"/monitors/{monitor.pk}/rules/{rule['id']}", {"min_anomalies": 3})
    assert patched.json()["min_anomalies"] == 3 and patched.json()["on_drift"] is True
    none = bob_api.post(f"/monitors/{monitor.pk}/rules", json={"name": "empty"})
    assert assert_problem(none, 422)["errors"][0]["loc"] == ["body", "min_anomalies"]
    assert bob_api.delete(f"/monitors/{monitor.pk}/rules/{rule['id']}").status_code == 204
    assert not AlertRule.objects.exists()


def test_rules_of_a_foreign_monitor_are_404(charlie_api, monitor):
    assert_problem(charlie_api.get(f"/monitors/{monitor.pk}/rules"), 404)
    assert_problem(
        charlie_api.post(f"/monitors/{monitor.pk}/rules", json={"name": "x", "min_anomalies": 1}),
        404,
    )


def test_only_admins_manage_channels_and_the_secret_is_shown_once(api, bob_api, settings, tenant_a):
    settings.PYNOMALY_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    body = {"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/h"}
    assert_problem(bob_api.post("/channels", json=body), 403)
    created = api.post("/channels", json=body)
    assert created.status_code == 201
    channel = created.json()
    assert channel["secret"].startswith("whsec_")
    assert api.get(f"/channels/{channel['id']}").json()["secret"] is None
    rotated = api.post(f"/channels/{channel['id']}/rotate-secret").json()["secret"]
    assert rotated.startswith("whsec_") and rotated != channel["secret"]
    patched = api.patch(f"/channels/{channel['id']}", {"format": "slack", "enabled": False}).json()
    assert patched["format"] == "slack" and patched["enabled"] is False
    refused = api.post(
        "/channels", json={"name": "meta", "kind": "webhook", "url": "http://169.254.169.254/"}
    )
    assert "metadata" in assert_problem(refused, 422)["detail"]
    assert bob_api.get("/channels").json()["items"][0]["name"] == "ops"
    assert api.delete(f"/channels/{channel['id']}").status_code == 204
    assert not Channel.objects.filter(tenant=tenant_a).exists()
