"""``/metrics``: who may scrape it, and that its figures move with what users do."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.web.datasets.helpers import upload_url

ROOT = Path(__file__).resolve().parents[2]


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` in a scrape (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return 0.0


def _scrape(client: Client, **headers: str) -> str:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


@pytest.mark.django_db
def test_no_token_and_no_allowed_address_gets_a_bare_404(monkeypatch, settings):
    settings.DEBUG = False
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-token")
    monkeypatch.delenv("METRICS_ALLOWED_ADDRESSES", raising=False)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
        response = Client().get("/metrics", headers=headers)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert b"pynomaly_" not in response.content


@pytest.mark.django_db
def test_bearer_token_opens_it(monkeypatch, settings):
    settings.DEBUG = False
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-token")
    monkeypatch.delenv("METRICS_ALLOWED_ADDRESSES", raising=False)
    text = _scrape(Client(), Authorization="Bearer s3cret-token")
    assert "pynomaly_http_requests_total" in text
    assert "pynomaly_runs{" in text


@pytest.mark.django_db
def test_allowed_address_opens_it_and_others_stay_out(monkeypatch, settings):
    settings.DEBUG = False
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    monkeypatch.setenv("METRICS_ALLOWED_ADDRESSES", "10.0.0.0/8, 127.0.0.1/32")
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.168.1.5").get("/metrics").status_code == 404
    monkeypatch.delenv("METRICS_ALLOWED_ADDRESSES")
    assert Client().get("/metrics").status_code == 404  # production: no address by default
    settings.DEBUG = True
    assert Client().get("/metrics").status_code == 200  # DEBUG: loopback by default


@pytest.mark.django_db
def test_requests_and_upload_refusals_are_counted(monkeypatch, settings, alice_client, tenant_a):
    settings.DEBUG = False
    monkeypatch.setenv("METRICS_TOKEN", "t")
    scraper = Client()
    before = _scrape(scraper, Authorization="Bearer t")
    assert alice_client.get("/healthz").status_code == 200
    wrong = SimpleUploadedFile("header.csv", b"a,b,c\n")  # a header and no rows
    refused = alice_client.post(upload_url(tenant_a), {"name": "", "file": wrong})
    assert refused.status_code == 400
    after = _scrape(scraper, Authorization="Bearer t")
    key = {"view": "healthz", "status": "200"}
    assert _value(after, "pynomaly_http_requests_total", **key) == (
        _value(before, "pynomaly_http_requests_total", **key) + 1
    )
    assert _value(after, "pynomaly_http_request_duration_seconds_count", view="healthz") > 0
    assert _value(after, "pynomaly_upload_refusals_total", reason="malformed") == (
        _value(before, "pynomaly_upload_refusals_total", reason="malformed") + 1
    )


@pytest.mark.django_db
def test_runs_by_status_come_from_the_database(monkeypatch, settings):
    settings.DEBUG = True
    monkeypatch.delenv("METRICS_ALLOWED_ADDRESSES", raising=False)
    from apps.runs.models import Run

    text = _scrape(Client())
    for status in Run.Status.values:
        assert (
            _value(text, "pynomaly_runs", status=status)
            == Run.objects.filter(status=status).count()
        )


@pytest.mark.django_db
def test_samples_of_several_processes_are_summed(monkeypatch, settings, tmp_path):
    """Two worker-like processes write to one PROMETHEUS_MULTIPROC_DIR; one scrape sums them."""
    script = "from apps.common import metrics; metrics.upload_refused('format')"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True)
    assert len(list(tmp_path.glob("*.db"))) == 2  # one file per process
    settings.DEBUG = True
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = _scrape(Client())
    assert _value(text, "pynomaly_upload_refusals_total", reason="format") == 2
