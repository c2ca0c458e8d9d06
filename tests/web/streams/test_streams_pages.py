"""Stream pages: who may see and change what, tenant isolation, secrets never shown, the live socket."""

from __future__ import annotations

import json

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.routing import URLRouter
from django.urls import reverse

from apps.alerts.models import AlertRule
from apps.audit.models import AuditEvent
from apps.streams.groups import publish
from apps.streams.models import Stream
from tests.conftest import run_async
from tests.web.streams.support import (
    PASSWORD,
    make_stream,
    store_history,
)

pytestmark = pytest.mark.django_db


def _url(name, tenant, **kw):
    return reverse(f"streams:{name}", kwargs={"tenant_slug": tenant.slug, **kw})


FORM = {
    "name": "line 4",
    "kind": "redis",
    "redis_url": "redis://127.0.0.1:6379/0",
    "redis_key": "pyn-test:line4",
    "learner": "hst",
    "columns": "temperature, pressure",
    "batch_size": "500",
}


def test_an_admin_creates_a_stream_from_the_form_and_its_password_is_never_shown(
    adam_client, tenant_a
):
    response = adam_client.post(_url("create", tenant_a), {**FORM, "password": PASSWORD})
    assert response.status_code == 302
    stream = Stream.objects.get(name="line 4")
    assert stream.columns == ["temperature", "pressure"] and stream.batch_size == 500
    page = adam_client.get(stream.url()).content.decode()
    assert "•••• set" in page and PASSWORD not in page
    edit = adam_client.get(_url("edit", tenant_a, stream_id=stream.pk)).content.decode()
    assert "•••• set" in edit and PASSWORD not in edit


def test_the_form_shows_the_chosen_kinds_fields_over_htmx(adam_client, tenant_a):
    response = adam_client.get(
        _url("create", tenant_a), {"kind": "mqtt", "name": "typed"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert 'name="mqtt_topic"' in html and 'name="redis_url"' not in html
    assert 'value="typed"' in html  # what was typed comes along
    assert "<html" not in html  # the form only


def test_bad_settings_come_back_on_their_fields_with_400(adam_client, tenant_a):
    response = adam_client.post(_url("create", tenant_a), {**FORM, "redis_url": "http://x"})
    assert response.status_code == 400
    assert "redis://host:port/db" in response.content.decode()
    assert not Stream.objects.filter(name="line 4").exists()


def test_analysts_and_viewers_see_streams_but_cannot_change_them(
    bob_client, vera_client, alice, tenant_a
):
    stream = make_stream(tenant_a, alice)
    for client in (bob_client, vera_client):
        assert client.get(_url("list", tenant_a)).status_code == 200
        assert client.get(stream.url()).status_code == 200
        assert client.get(_url("create", tenant_a)).status_code == 403
        assert client.post(_url("pause", tenant_a, stream_id=stream.pk)).status_code == 403
    stream.refresh_from_db()
    assert stream.status == "active"


def test_a_stranger_gets_404_for_another_workspaces_stream(
    charlie_client, alice, tenant_a, tenant_b
):
    stream = make_stream(tenant_a, alice)
    assert charlie_client.get(stream.url()).status_code == 404
    # in his own workspace's URL, naming A's stream: 404 too, and the trail notes it
    own = reverse("streams:detail", kwargs={"tenant_slug": tenant_b.slug, "stream_id": stream.pk})
    assert charlie_client.get(own).status_code == 404
    assert AuditEvent.objects.filter(action="access.denied", tenant=tenant_a).exists()


def test_an_admin_pauses_and_resumes(adam_client, alice, tenant_a):
    stream = make_stream(tenant_a, alice)
    adam_client.post(_url("pause", tenant_a, stream_id=stream.pk))
    stream.refresh_from_db()
    assert stream.status == "paused"
    assert 'id="resume-stream"' in adam_client.get(stream.url()).content.decode()
    adam_client.post(_url("resume", tenant_a, stream_id=stream.pk))
    stream.refresh_from_db()
    assert stream.status == "active"


def test_the_stream_page_shows_state_anomalies_dead_letters_and_the_rules_link(
    alice_client, alice, tenant_a
):
    from django.utils import timezone

    from apps.streams.models import DeadLetter

    stream = make_stream(tenant_a, alice)
    store_history(stream)
    DeadLetter.objects.create(
        tenant=tenant_a, stream=stream, event_id="1-0", reason="field temperature is missing",
        payload='{"pressure": 1}', received_at=timezone.now(),
    )  # fmt: skip
    html = alice_client.get(stream.url()).content.decode()
    assert "evt-1" in html and "temperature=100.5" in html
    assert "field temperature is missing" in html
    assert 'data-drift="temperature"' in html
    assert 'id="stat-lag">7<' in html
    assert reverse("alerts:stream_rules", args=[tenant_a.slug, stream.pk]) in html
    listing = alice_client.get(_url("list", tenant_a)).content.decode()
    assert "sensors" in listing and "100.0" in listing
    dashboard = alice_client.get(reverse("tenants:dashboard", args=[tenant_a.slug]))
    assert 'id="streams-dashboard"' in dashboard.content.decode()


def test_a_push_streams_token_is_shown_once_with_a_curl_example(adam_client, tenant_a):
    response = adam_client.post(
        _url("create", tenant_a), {"name": "pushy", "kind": "http", "learner": "hst",
                                   "columns": "x", "batch_size": "100"},
    )  # fmt: skip
    html = response.content.decode()
    stream = Stream.objects.get(name="pushy")
    token = html.split('id="push-token" class="w-full font-mono text-xs" readonly value="')[1][:47]
    assert token.startswith("pys_")
    assert f"Bearer {token}" in html and "curl -X POST" in html
    again = adam_client.get(stream.url()).content.decode()
    assert token not in again and "PUSH_TOKEN" in again
    rotated = adam_client.post(_url("rotate_token", tenant_a, stream_id=stream.pk))
    assert token not in rotated.content.decode() and 'id="push-token"' in rotated.content.decode()


def test_alert_rules_are_made_edited_and_deleted_for_a_stream(bob_client, alice, tenant_a):
    stream = make_stream(tenant_a, alice)
    url = reverse("alerts:stream_rules", args=[tenant_a.slug, stream.pk])
    response = bob_client.post(
        url, {"name": "hot", "match": "any", "cooldown_seconds": "60", "min_anomalies": "5"}
    )
    assert response.status_code == 302 and response["Location"] == url
    rule = AlertRule.objects.get(stream=stream)
    assert rule.monitor is None and rule.tenant == tenant_a
    edit = reverse("alerts:rule_edit", args=[tenant_a.slug, rule.pk])
    assert bob_client.get(edit).status_code == 200
    bob_client.post(
        edit, {"name": "hot", "match": "all", "cooldown_seconds": "0", "on_drift": "on"}
    )
    rule.refresh_from_db()
    assert rule.on_drift and rule.match == "all"
    assert "hot" in bob_client.get(url).content.decode()
    bob_client.post(reverse("alerts:rule_delete", args=[tenant_a.slug, rule.pk]))
    assert not AlertRule.objects.filter(stream=stream).exists()


# ---------------------------------------------------------------- the live socket
class Socket(ApplicationCommunicator):
    """A WebSocket client speaking ASGI to the routes in-process (channels.testing needs daphne)."""

    def __init__(self, user, tenant, stream_id):
        from pynomaly_web.routing import websocket_urlpatterns

        path = f"/ws/t/{tenant.slug}/streams/{stream_id}/"
        scope = {"type": "websocket", "path": path, "headers": [], "subprotocols": [],
                 "query_string": b"", "user": user}  # fmt: skip
        super().__init__(URLRouter(websocket_urlpatterns), scope)

    async def connect(self):
        await self.send_input({"type": "websocket.connect"})
        reply = await self.receive_output(10)
        return reply["type"] == "websocket.accept", reply.get("code")

    async def receive_text(self) -> str:
        return (await self.receive_output(10))["text"]

    async def disconnect(self):
        await self.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.wait(1)


def _communicator(user, tenant, stream_id):
    return Socket(user, tenant, stream_id)


@pytest.mark.django_db(transaction=True)
def test_the_socket_sends_the_stored_state_then_forwards_the_processors_message(alice, tenant_a):
    stream = make_stream(tenant_a, alice)
    store_history(stream, seconds=3, anomalies=1)

    async def scenario():
        ws = _communicator(alice, tenant_a, stream.pk)
        connected, _ = await ws.connect()
        assert connected
        first = json.loads(await ws.receive_text())
        from asgiref.sync import sync_to_async

        await sync_to_async(publish)(
            stream.pk, {"points": [[1, 0.5, 0]], "threshold": 0.8, "stats": {"lag": 3}}
        )
        second = json.loads(await ws.receive_text())
        await ws.disconnect()
        return first, second

    first, second = run_async(scenario())
    assert first["reset"] is True and len(first["points"]) >= 3
    assert first["anomalies"][0]["event_id"] == "evt-0"
    assert first["stats"]["lag"] == 7
    assert second == {"points": [[1, 0.5, 0]], "threshold": 0.8, "stats": {"lag": 3}}


@pytest.mark.django_db(transaction=True)
def test_the_socket_refuses_another_workspaces_member(alice, tenant_a, charlie, tenant_b):
    stream = make_stream(tenant_a, alice)

    async def attempt(user, tenant):
        ws = _communicator(user, tenant, stream.pk)
        connected, code = await ws.connect()
        await ws.disconnect()
        return connected, code

    assert run_async(attempt(charlie, tenant_a)) == (False, 4403)
    assert run_async(attempt(charlie, tenant_b)) == (False, 4403)  # his URL, A's stream
    assert run_async(attempt(alice, tenant_a))[0] is True
