"""Concurrent requests against the live server on PostgreSQL: none fails, and the server's
connections stay within its pool (before the pool, each request thread kept its own)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import _test_database_url
from tests.integration.test_realtime import _session_cookie

pytestmark = pytest.mark.integration

CONCURRENT = 30
POOL_MAX = 4
SERVER_APP = "pynomaly-load-test-server"


@pytest.fixture
def small_pool(db, monkeypatch):
    """The server starts with a pool far smaller than the number of concurrent requests."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's (SQLite has one file and no pool)")
    monkeypatch.setenv("DB_POOL_MIN_SIZE", "1")
    monkeypatch.setenv("DB_POOL_MAX_SIZE", str(POOL_MAX))
    monkeypatch.setenv("DB_POOL_TIMEOUT", "60")  # waiting is fine on a busy machine; failing is not
    # libpq names the server's connections, so they can be told from this process's.
    monkeypatch.setenv("PGAPPNAME", SERVER_APP)


class _Sampler(threading.Thread):
    """Peak number of connections the server holds on the test database."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.stopped = 0, threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(_test_database_url(), autocommit=True, application_name="") as con:
            while not self.stopped.wait(0.05):
                (count,) = con.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = %s",
                    (SERVER_APP,),
                ).fetchone()
                self.peak = max(self.peak, count)


def test_thirty_concurrent_requests_all_succeed_within_the_pool(
    small_pool, asgi_server, alice, tenant_a, monkeypatch
):
    from apps.api.services import token_create
    from apps.datasets.models import Dataset

    for i in range(5):
        Dataset.objects.create(tenant=tenant_a, name=f"data {i}", status="ready", created_by=alice)
    _token, raw = token_create(user=alice, tenant=tenant_a, name="load", scope="read")
    cookie = _session_cookie(asgi_server, alice.email)
    targets = [
        (f"/t/{tenant_a.slug}/datasets/", {"Cookie": cookie}),
        ("/api/v1/datasets", {"Authorization": f"Bearer {raw}"}),
        ("/api/v1/runs", {"Authorization": f"Bearer {raw}"}),
    ]
    monkeypatch.delenv("PGAPPNAME")  # the server has it; this process's connections must not
    sampler = _Sampler()
    sampler.start()
    together = threading.Barrier(CONCURRENT)

    def get(i: int) -> tuple[str, int | str]:
        path, headers = targets[i % len(targets)]
        together.wait()
        try:
            return path, requests.get(
                asgi_server.url + path, headers=headers, timeout=120
            ).status_code
        except requests.RequestException as exc:
            return path, type(exc).__name__

    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(get, range(CONCURRENT)))
    sampler.stopped.set()
    sampler.join(timeout=5)

    assert [a for a in answers if a[1] != 200] == []
    assert len(answers) == CONCURRENT
    assert 1 <= sampler.peak <= POOL_MAX, f"the server held {sampler.peak} connections"
