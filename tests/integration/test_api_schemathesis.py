"""Property-based API test: every operation of /api/v1/openapi.json, fed generated input, never
answers 5xx, and answers only statuses its OpenAPI document lists (apps.api.openapi).

Schemathesis calls the Django WSGI app in-process with a valid write token of the workspace
owner (so requests get past authentication into validation and the services). Bounded and
deterministic: 25 examples per operation, derandomised.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx, value) -> bytes:
    """HTTP push to a stream takes NDJSON: the generated string goes on the wire as it is."""
    return value if isinstance(value, bytes) else str(value).encode()


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture
def token(settings, tmp_path, alice, tenant_a, monkeypatch):
    from apps.api import throttling
    from apps.api.services import token_create
    from tests.web.runs.factories import blobs, make_config, make_run, make_version

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.API_RATE_PER_TOKEN = settings.API_RATE_PER_IP = settings.API_RATE_ANON = "off"
    throttling.reset_all()
    # Nothing leaves the process: uploads and runs are recorded but not handed to a worker.
    monkeypatch.setattr("apps.datasets.services._enqueue_ingest", lambda upload_id: None)
    monkeypatch.setattr("apps.runs.tasks.execute_run.apply_async", lambda *a, **k: None)
    monkeypatch.setattr("apps.sources.tasks.pull.delay", lambda *a, **k: None)
    monkeypatch.setattr("apps.sources.services.resolve_allowed", _no_network)
    monkeypatch.setattr("apps.common.netguard.resolve_allowed", _no_network)  # webhook URLs
    monkeypatch.setattr("apps.streams.config.resolve_allowed", _no_network)  # stream brokers
    monkeypatch.setattr("apps.alerts.deliveries._enqueue", lambda *a, **k: None)
    # Some real objects, so that small generated ids sometimes find something.
    version = make_version(tenant_a, blobs(60), user=alice)
    make_run(tenant_a, alice, version, make_config(tenant_a, alice))
    return token_create(user=alice, tenant=tenant_a, name="schemathesis", scope="write")[1]


def _no_network(host: str, port: int) -> str:
    """Generated sources name arbitrary hosts: refuse them all, as the guard would a bad one."""
    from apps.common.netguard import HostRefused

    raise HostRefused(f"Connections to {host} are refused in this test.", code="host_refused")


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """The WSGI handler closes connections after each request; the test's transaction needs its own open."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error_or_an_undocumented_status(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, status_code_conformance],
    )
