"""Stream test fixtures: an admin persona, API clients, Redis push keys cleaned up after each test."""

from __future__ import annotations

import pytest

from tests.conftest import _user
from tests.web.api.conftest import (  # noqa: F401
    Api,
    _fresh_rate_limits,
    _isolated,
    alice_api,
    bob_api,
    charlie_api,
    make_token,
    vera_api,
)


@pytest.fixture
def adam(tenant_a):
    """Tenant A's admin (alice owns it, bob is an analyst, vera a viewer)."""
    from apps.tenants.services import membership_add

    user = _user("adam@example.com")
    membership_add(tenant=tenant_a, user=user, role="admin")
    return user


@pytest.fixture
def adam_client(adam):
    from django.test import Client

    client = Client()
    client.force_login(adam)
    return client


@pytest.fixture
def adam_api(adam, tenant_a):
    return Api(make_token(adam, tenant_a)[1])


@pytest.fixture
def push_keys():
    """Redis push keys the test created, deleted after it."""
    from apps.streams import push

    made: list[int] = []
    yield made
    for stream_id in made:
        push.drop(stream_id)
