"""A streamed upload without Content-Length (chunked) is counted as it arrives and cut off at the limit."""

from __future__ import annotations

import pytest
import requests

from apps.audit.models import AuditEvent
from apps.datasets.models import Dataset

from .conftest import make_token


@pytest.fixture
def small_limit_server(monkeypatch, settings):
    monkeypatch.setenv("PYNOMALY_MAX_UPLOAD_BYTES", "5000")
    monkeypatch.setenv("API_RATE_PER_TOKEN", "off")


def test_a_chunked_body_over_the_limit_is_a_413_and_leaves_nothing(
    small_limit_server, asgi_server, alice, tenant_a
):
    raw = make_token(alice, tenant_a)[1]

    def body():  # a generator body is sent chunked: the server never learns the length up front
        yield b"a,b\n"
        for _ in range(100):
            yield b"1,2\n" * 50

    r = requests.put(
        f"{asgi_server.url}/api/v1/datasets/stream?name=big&filename=big.csv",
        data=body(),
        headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert r.status_code == 413, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert not Dataset.objects.exists()
    assert AuditEvent.objects.filter(
        action="dataset.upload_refused", details__reason="too_large"
    ).exists()
