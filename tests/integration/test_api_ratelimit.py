"""Rate limits hold under concurrency: a real ASGI server, 50 simultaneous requests, a limit of 20."""

from __future__ import annotations

import threading

import pytest
import requests

from apps.api import throttling

N = 50
LIMIT = 20


@pytest.fixture
def rate_env(monkeypatch):
    monkeypatch.setenv("API_RATE_PER_TOKEN", f"{LIMIT}/min")
    monkeypatch.setenv("API_RATE_PER_IP", "10000/min")
    monkeypatch.setenv("API_RATE_ANON", f"{LIMIT}/min")


@pytest.fixture
def limited_server(rate_env, asgi_server):
    """Daphne started with a per-token limit of 20/min (its settings come from its environment)."""
    throttling.reset_all()
    yield asgi_server
    throttling.reset_all()


def _burst(url: str, headers: dict) -> list[requests.Response]:
    barrier = threading.Barrier(N)
    responses: list[requests.Response] = []
    lock = threading.Lock()

    def call():
        with requests.Session() as s:
            barrier.wait()
            r = s.get(url, headers=headers, timeout=60)
        with lock:
            responses.append(r)

    threads = [threading.Thread(target=call) for _ in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return responses


def test_exactly_the_limit_succeeds_out_of_50_parallel_requests_and_the_rest_get_429(
    limited_server, alice, tenant_a
):
    from apps.api.services import token_create

    _, raw = token_create(user=alice, tenant=tenant_a, name="burst", scope="read")
    responses = _burst(f"{limited_server.url}/api/v1/me", {"Authorization": f"Bearer {raw}"})
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == LIMIT and codes.count(429) == N - LIMIT, codes
    for r in responses:
        if r.status_code == 429:
            assert r.headers["Content-Type"].startswith("application/problem+json")
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            assert r.json()["status"] == 429


def test_a_second_token_has_its_own_budget(limited_server, alice, tenant_a):
    from apps.api.services import token_create

    _, first = token_create(user=alice, tenant=tenant_a, name="one", scope="read")
    _, second = token_create(user=alice, tenant=tenant_a, name="two", scope="read")
    _burst(f"{limited_server.url}/api/v1/me", {"Authorization": f"Bearer {first}"})
    r = requests.get(
        f"{limited_server.url}/api/v1/me", headers={"Authorization": f"Bearer {second}"}, timeout=30
    )
    assert r.status_code == 200


def test_guessing_tokens_is_limited_by_the_anonymous_rate(limited_server, db):
    responses = _burst(
        f"{limited_server.url}/api/v1/me", {"Authorization": "Bearer pyn_" + "g" * 40}
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(401) == LIMIT and codes.count(429) == N - LIMIT, codes


def test_both_limits_are_counted_in_one_round_trip_and_a_refused_request_leaves_later_counters_alone(
    settings,
):
    settings.API_RATE_PER_IP = "2/min"
    settings.API_RATE_PER_TOKEN = "100/min"
    throttling.reset_all()
    client = throttling._redis()
    checks = [("ip", "198.51.100.7", "API_RATE_PER_IP"), ("token", "77", "API_RATE_PER_TOKEN")]
    calls = []
    script = client._pyn_script

    def counting(*args, **kwargs):
        calls.append(kwargs["keys"])
        return script(*args, **kwargs)

    client._pyn_script = counting
    try:
        throttling.hit_many(checks)
        throttling.hit_many(checks)
        with pytest.raises(throttling.RateLimited) as exc:
            throttling.hit_many(checks)
    finally:
        client._pyn_script = script
    assert len(calls) == 3 and all(len(keys) == 2 for keys in calls)  # one script call per request
    assert exc.value.what == "ip" and 1 <= exc.value.retry_after <= 60
    assert int(client.get(throttling.KEY_PREFIX + "ip:198.51.100.7")) == 3
    assert (
        int(client.get(throttling.KEY_PREFIX + "token:77")) == 2
    )  # the refused request was not charged
    throttling.reset_all()
