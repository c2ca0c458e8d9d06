"""A real Celery worker, a real Redis channel layer and a real WebSocket through Daphne."""

import asyncio
import json

import pytest
import websockets
from django.conf import settings as dj_settings

from tests.conftest import PASSWORD, run_async

pytestmark = pytest.mark.integration


def _session_cookie(server, email):
    import requests

    s = requests.Session()
    page = s.get(f"{server.url}/accounts/login/")
    assert page.status_code == 200
    token = s.cookies["csrftoken"]
    r = s.post(
        f"{server.url}/accounts/login/",
        data={"login": email, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{server.url}/accounts/login/"},
        allow_redirects=False,
    )
    assert r.status_code == 302, r.text[:500]
    return f"sessionid={s.cookies['sessionid']}"


async def _connect(server, path, *, cookie=None, origin=None):
    headers = {}
    if cookie:
        headers["Cookie"] = cookie
    origin = origin or server.url
    return await websockets.connect(
        f"ws://{server.host}{path}", additional_headers=headers, origin=origin, open_timeout=10
    )


async def _refused(server, path, **kw) -> bool:
    try:
        ws = await _connect(server, path, **kw)
    except (websockets.InvalidStatus, websockets.InvalidHandshake):
        return True
    try:
        await asyncio.wait_for(ws.recv(), timeout=5)
    except websockets.ConnectionClosed:
        return True
    finally:
        await ws.close()
    return False


def test_celery_worker_runs_a_task_that_reaches_a_members_websocket(
    asgi_server, celery_worker, alice, tenant_a
):
    from apps.tenants.tasks import notify_tenant_task

    cookie = _session_cookie(asgi_server, alice.email)

    async def scenario():
        ws = await _connect(asgi_server, f"/ws/t/{tenant_a.slug}/notifications/", cookie=cookie)
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), timeout=10) == "pong"
        await asyncio.to_thread(notify_tenant_task.delay, tenant_a.pk, "Run 7 finished")
        html = await asyncio.wait_for(ws.recv(), timeout=20)
        await ws.close()
        return html

    html = run_async(scenario())
    assert "Run 7 finished" in html
    assert 'hx-swap-oob="beforeend"' in html


def test_websocket_refuses_anonymous_visitors(asgi_server, tenant_a):
    assert run_async(_refused(asgi_server, f"/ws/t/{tenant_a.slug}/notifications/"))


def test_websocket_refuses_a_foreign_origin(asgi_server, alice, tenant_a):
    cookie = _session_cookie(asgi_server, alice.email)
    assert run_async(
        _refused(
            asgi_server,
            f"/ws/t/{tenant_a.slug}/notifications/",
            cookie=cookie,
            origin="http://evil.example.com",
        )
    )


def test_websocket_refuses_a_signed_in_non_member(asgi_server, charlie, tenant_b, tenant_a):
    cookie = _session_cookie(asgi_server, charlie.email)
    assert run_async(_refused(asgi_server, f"/ws/t/{tenant_a.slug}/notifications/", cookie=cookie))
    # ...while his own workspace's socket opens.
    assert not run_async(
        _connected_and_pong(asgi_server, f"/ws/t/{tenant_b.slug}/notifications/", cookie)
    )


async def _connected_and_pong(server, path, cookie) -> bool:
    ws = await _connect(server, path, cookie=cookie)
    await ws.send("ping")
    reply = await asyncio.wait_for(ws.recv(), timeout=10)
    await ws.close()
    return reply != "pong"


def test_channel_layer_is_redis():
    assert (
        dj_settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    )
    assert json.dumps(dj_settings.CELERY_ACCEPT_CONTENT) == '["json"]'
