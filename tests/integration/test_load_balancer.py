"""Two real web processes behind a real HAProxy (deploy/haproxy/haproxy.cfg, the operators' file).

Sessions (database), channel layer and cache (Redis) and files (MEDIA_ROOT) are shared, so a
process may die under load: the balancer retries the idempotent requests it had sent there, and
a WebSocket that was on it reconnects through the balancer to the survivor and gets what is
published afterwards. Skips without haproxy unless PYNOMALY_REQUIRE_HAPROXY=1 (CI sets it).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
import websockets

from bench.loadbalancer import HAPROXY, HAProxy, WebProcesses, hammer
from tests.conftest import _test_database_url, run_async
from tests.integration.test_realtime import _session_cookie

pytestmark = pytest.mark.integration

LOAD_SECONDS = 30.0
KILL_AFTER = 8.0
CLIENTS = 4
RATE_OFF = "1000000/min"


def _require_haproxy() -> None:
    if HAPROXY is None:
        if os.environ.get("PYNOMALY_REQUIRE_HAPROXY", "") not in ("", "0", "false"):
            pytest.fail("PYNOMALY_REQUIRE_HAPROXY is set but haproxy is not installed")
        pytest.skip("haproxy is not installed (Debian: apt-get install haproxy)")


@pytest.fixture
def lb_cluster(transactional_db, settings, tmp_path):
    _require_haproxy()
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DJANGO_SETTINGS_MODULE": "pynomaly_web.settings",
        "API_RATE_PER_TOKEN": RATE_OFF,
        "API_RATE_PER_IP": RATE_OFF,
        "LOG_LEVEL": "WARNING",
    }
    with WebProcesses(env, 2, tmp_path) as web, HAProxy(web.ports, tmp_path) as lb:
        yield web, lb


class _Server:
    """What tests.integration.test_realtime's helpers need of a server: its URL."""

    def __init__(self, url: str):
        self.url = url
        self.host = url.split("//", 1)[1]


def _socket_holder(lb: HAProxy) -> int:
    """Which process (0 or 1) holds the one open WebSocket: its server has the current session."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        current = {name: int(row["scur"] or 0) for name, row in lb.stats().items()}
        holders = [name for name, n in current.items() if n == 1]
        if len(holders) == 1 and sum(current.values()) == 1:
            return int(holders[0].removeprefix("web")) - 1
        time.sleep(0.1)
    raise AssertionError(f"no single server holds the socket: {lb.stats()}")


def test_killing_one_of_two_web_processes_under_load_loses_no_retryable_request_and_the_socket_catches_up(
    lb_cluster, alice, tenant_a
):
    from apps.api.services import token_create
    from apps.tenants.tasks import notify_tenant

    web, lb = lb_cluster
    server = _Server(lb.url)
    # Signed in through the balancer: the session made by one process is honoured by the other.
    cookie = _session_cookie(server, alice.email)
    _, token = token_create(user=alice, tenant=tenant_a, name="lb", scope="read")
    path = f"/ws/t/{tenant_a.slug}/notifications/"
    load: dict = {}
    killed = threading.Event()

    def run_load(victim: int) -> None:
        def kill() -> None:
            time.sleep(KILL_AFTER)
            web.kill(victim)
            killed.set()

        load["result"] = hammer(
            lb.url,
            page=f"/t/{tenant_a.slug}/datasets/",
            api="/api/v1/datasets",
            cookie=cookie,
            token=token,
            clients=CLIENTS,
            seconds=LOAD_SECONDS,
            during=kill,
        )

    async def connect():
        return await websockets.connect(
            f"ws://{server.host}{path}",
            additional_headers={"Cookie": cookie},
            origin=lb.url,
            open_timeout=10,
        )

    async def scenario() -> tuple[str, bool]:
        ws = await connect()
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), timeout=10) == "pong"
        victim = await asyncio.to_thread(_socket_holder, lb)
        loader = threading.Thread(target=run_load, args=(victim,))
        loader.start()
        await asyncio.to_thread(killed.wait, KILL_AFTER + 30)
        # The process under the socket is gone: the client sees the socket close...
        try:
            await asyncio.wait_for(ws.recv(), timeout=20)
            first_closed = False
        except websockets.ConnectionClosed:
            first_closed = True
        # ...and reconnects through the balancer, as the page's script does, until it is let in.
        deadline = time.monotonic() + 20
        while True:
            try:
                ws = await connect()
                await ws.send("ping")
                if await asyncio.wait_for(ws.recv(), timeout=5) == "pong":
                    break
            except (OSError, websockets.WebSocketException, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        await asyncio.to_thread(notify_tenant, tenant_a, "Published after the kill")
        html = await asyncio.wait_for(ws.recv(), timeout=20)
        await ws.close()
        await asyncio.to_thread(loader.join, LOAD_SECONDS + 60)
        return html, first_closed

    html, first_closed = run_async(scenario())
    assert first_closed, "the socket's process was killed but the socket stayed open"
    assert "Published after the kill" in html

    ok, failures, examples = load["result"]
    assert not failures, (failures, examples)
    assert ok > 100  # the load really ran on both sides of the kill
    servers = lb.stats()
    victim_name = next(n for n, r in servers.items() if r["status"] != "UP")
    assert servers[victim_name]["status"].startswith("DOWN")
    # The balancer did the work: requests that met the dead process were sent again.
    assert sum(int(r["wretr"] or 0) + int(r["wredis"] or 0) for r in servers.values()) > 0
    survivor = next(n for n in servers if n != victim_name)
    assert int(servers[survivor]["stot"]) > 0
