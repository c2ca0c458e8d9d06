"""API fixtures: tokens for the personas and a client that sends them."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RUN_HEARTBEAT_SECONDS = 3600


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings):
    """Counters live in Redis across tests: start each test with none, and with room to spare."""
    from apps.api import throttling

    settings.API_RATE_PER_TOKEN = "10000/min"
    settings.API_RATE_PER_IP = "100000/min"
    settings.API_RATE_ANON = "10000/min"
    throttling.reset_all()


class Api:
    """A Django test client speaking to /api/v1 with one bearer token."""

    def __init__(self, raw: str | None):
        self.raw = raw
        self.client = Client()

    def _headers(self, headers):
        h = {"Authorization": f"Bearer {self.raw}"} if self.raw else {}
        h.update(headers or {})
        return h

    def get(self, path, data=None, headers=None):
        return self.client.get("/api/v1" + path, data, headers=self._headers(headers))

    def delete(self, path, headers=None):
        return self.client.delete("/api/v1" + path, headers=self._headers(headers))

    def post(self, path, json=None, headers=None, **kwargs):
        if json is not None:
            return self.client.post(
                "/api/v1" + path,
                json,
                content_type="application/json",
                headers=self._headers(headers),
            )
        return self.client.post("/api/v1" + path, headers=self._headers(headers), **kwargs)

    def patch(self, path, json, headers=None):
        return self.client.patch(
            "/api/v1" + path, json, content_type="application/json", headers=self._headers(headers)
        )

    def put(self, path, data: bytes, content_type="application/octet-stream", headers=None):
        return self.client.put(
            "/api/v1" + path, data, content_type=content_type, headers=self._headers(headers)
        )


def make_token(user, tenant, scope="write", **kwargs):
    from apps.api.services import token_create

    token, raw = token_create(
        user=user,
        tenant=tenant,
        name=kwargs.pop("name", f"{user.username}-{scope}"),
        scope=scope,
        **kwargs,
    )
    return token, raw


@pytest.fixture
def alice_api(alice, tenant_a):
    return Api(make_token(alice, tenant_a)[1])


@pytest.fixture
def alice_read_api(alice, tenant_a):
    return Api(make_token(alice, tenant_a, scope="read")[1])


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
def anon_api(db):
    return Api(None)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body
