"""A run started through the real web server, executed by a real Celery worker, watched
over a real WebSocket: current state on connect, progress as it goes, the final state."""

import asyncio
import re
import time

import pytest
import requests
import websockets

from tests.conftest import run_async
from tests.integration.test_realtime import _connect, _refused, _session_cookie
from tests.web.runs.factories import blobs, make_config, make_version

pytestmark = pytest.mark.integration


_run = run_async


@pytest.fixture
def live_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_CHUNK_ROWS = 300
    return settings.MEDIA_ROOT


def _start_run(server, cookie: str, tenant, version, config) -> int:
    s = requests.Session()
    s.headers["Cookie"] = cookie
    start_url = f"{server.url}/t/{tenant.slug}/runs/new/"
    page = s.get(start_url)
    assert page.status_code == 200, page.text[:300]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    s.headers["Cookie"] = (
        f"{cookie}; csrftoken={s.cookies.get('csrftoken') or page.cookies.get('csrftoken')}"
    )
    r = s.post(
        start_url,
        data={
            "csrfmiddlewaretoken": token,
            "dataset_version": version.pk,
            "detector": config.pk,
            "label_column": "is_anomaly",
        },
        headers={"Referer": start_url},
        allow_redirects=False,
    )
    assert r.status_code == 302, r.text[:800]
    return int(re.search(r"/runs/(\d+)/$", r.headers["Location"]).group(1))


def test_a_run_started_in_the_browser_reports_live_over_its_socket(
    live_media, asgi_server, celery_worker, alice, tenant_a, monkeypatch
):
    from apps.runs import tasks
    from apps.runs.models import Run

    # Slow each progress report a little so the socket sees the run while it runs.
    real_progress = tasks._Execution.progress

    def slow_progress(self, stage, done, total):
        time.sleep(0.6)
        return real_progress(self, stage, done, total)

    monkeypatch.setattr(tasks._Execution, "progress", slow_progress)
    version = make_version(tenant_a, blobs(1500))
    config = make_config(tenant_a, alice)
    cookie = _session_cookie(asgi_server, alice.email)
    run_id = _start_run(asgi_server, cookie, tenant_a, version, config)

    async def watch():
        # Like htmx's ws extension: reconnect when the socket drops; each (re)connect
        # starts with the current state, so nothing is lost.
        messages, connects = [], 0
        while connects < 6:
            connects += 1
            ws = await _connect(asgi_server, f"/ws/t/{tenant_a.slug}/runs/{run_id}/", cookie=cookie)
            try:
                while True:
                    html = await asyncio.wait_for(ws.recv(), timeout=60)
                    messages.append(html)
                    if re.search(r'data-status="(succeeded|failed|cancelled)"', html):
                        return messages
            except websockets.ConnectionClosed:
                continue
            finally:
                await ws.close()
        raise AssertionError(
            f"no final state after {connects} connections: {[m[:120] for m in messages]}"
        )

    messages = _run(watch())
    assert 'id="run-progress"' in messages[0]  # the current state, sent on connect
    assert all('hx-swap-oob="true"' in m for m in messages)
    assert any('data-status="running"' in m for m in messages), [m[:200] for m in messages]
    assert 'data-status="succeeded"' in messages[-1]
    assert f"/runs/{run_id}/results/" in messages[-1]
    run = Run.objects.get(pk=run_id)
    assert run.status == "succeeded" and run.metrics["roc_auc"] > 0.9 and run.task_id


def test_a_reconnect_shows_the_current_state(live_media, asgi_server, alice, tenant_a):
    from apps.runs.models import Run

    version = make_version(tenant_a, blobs(50))
    config = make_config(tenant_a, alice)
    run = Run.objects.create(
        tenant=tenant_a,
        dataset_version=version,
        detector_version=config.current,
        status="failed",
        error="KNN failed: out of memory",
    )
    cookie = _session_cookie(asgi_server, alice.email)

    async def first_message():
        ws = await _connect(asgi_server, f"/ws/t/{tenant_a.slug}/runs/{run.pk}/", cookie=cookie)
        try:
            return await asyncio.wait_for(ws.recv(), timeout=10)
        finally:
            await ws.close()

    html = _run(first_message())
    assert 'data-status="failed"' in html and "KNN failed: out of memory" in html


def test_a_non_members_run_socket_is_refused(
    live_media, asgi_server, alice, tenant_a, charlie, tenant_b
):
    from apps.runs.models import Run

    version = make_version(tenant_a, blobs(50))
    run = Run.objects.create(
        tenant=tenant_a,
        dataset_version=version,
        detector_version=make_config(tenant_a, alice).current,
    )
    cookie = _session_cookie(asgi_server, charlie.email)
    assert _run(_refused(asgi_server, f"/ws/t/{tenant_a.slug}/runs/{run.pk}/", cookie=cookie))
    # Under his own slug, A's run is not found either.
    assert _run(_refused(asgi_server, f"/ws/t/{tenant_b.slug}/runs/{run.pk}/", cookie=cookie))
    assert _run(_refused(asgi_server, f"/ws/t/{tenant_a.slug}/runs/{run.pk}/"))


def test_a_quiet_run_socket_stays_open(live_media, asgi_server, alice, tenant_a):
    from apps.runs.models import Run

    version = make_version(tenant_a, blobs(50))
    run = Run.objects.create(
        tenant=tenant_a,
        dataset_version=version,
        detector_version=make_config(tenant_a, alice).current,
    )
    cookie = _session_cookie(asgi_server, alice.email)

    async def quiet_then_ping():
        ws = await _connect(asgi_server, f"/ws/t/{tenant_a.slug}/runs/{run.pk}/", cookie=cookie)
        try:
            await asyncio.wait_for(ws.recv(), timeout=10)  # the state on connect
            await asyncio.sleep(8)
            await ws.send("ping")
            return await asyncio.wait_for(ws.recv(), timeout=10)
        finally:
            await ws.close()

    assert _run(quiet_then_ping()) == "pong"
