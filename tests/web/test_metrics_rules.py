"""The Grafana dashboard and the Prometheus alert rules name only metrics ``/metrics`` serves."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from django.test import Client

from apps.common import metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "pynomaly-dashboard.json"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
NAME = re.compile(r"\bpynomaly_[a-zA-Z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert all(t["refId"] for panel in dashboard["panels"] for t in panel["targets"])
    return exprs


def _rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {r["alert"] for r in rules} >= {
        "PynomalyWorkerDown",
        "PynomalyQueueGrowing",
        "PynomalyRunsFailing",
        "PynomalyStreamLag",
    }
    return [str(rule["expr"]) for rule in rules]


def _families(scrape: str) -> tuple[dict[str, str], set[str]]:
    """``# TYPE`` of each family (counters by their name without _total) and the sample names."""
    types: dict[str, str] = {}
    samples: set[str] = set()
    for line in scrape.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name.removesuffix("_total") if kind == "counter" else name] = kind
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[a-zA-Z_:][\w:]*", line).group(0))  # type: ignore[union-attr]
    return types, samples


def unknown_names(exprs: list[str], scrape: str) -> list[str]:
    """Names in ``exprs`` that the scrape does not serve as written (a counter only with _total,
    a histogram only as _bucket/_sum/_count, a gauge as itself)."""
    types, samples = _families(scrape)
    wrong = []
    for name in sorted({n for e in exprs for n in NAME.findall(e)}):
        kind = types.get(name)
        if kind is None:
            for family_kind, suffixes in SUFFIXES.items():
                for suffix in suffixes:
                    base = name.removesuffix(suffix)
                    if name.endswith(suffix) and types.get(base) == family_kind:
                        kind = family_kind
        elif kind in SUFFIXES:
            kind = None  # a counter or histogram named without its sample suffix
        if kind is None or name not in samples:
            wrong.append(name)
    return wrong


@pytest.fixture
def scrape(monkeypatch, settings, tenant_a, alice, tmp_path):
    """A real scrape in which every family has at least one sample."""
    from apps.runs.tasks import execute_run
    from apps.streams.models import Stream
    from pynomaly_web.health import ping
    from tests.web.runs.factories import blobs, make_config, make_run, make_version

    settings.MEDIA_ROOT = str(tmp_path)
    version = make_version(tenant_a, blobs(20), user=alice)
    run = make_run(tenant_a, alice, version, make_config(tenant_a, alice), status="queued")
    execute_run(run.pk)  # a real run: its stage durations are observed

    settings.DEBUG = False
    monkeypatch.setenv("METRICS_TOKEN", "t")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(metrics, "_workers_cache", (time.monotonic(), 0))
    Stream.objects.create(
        tenant=tenant_a,
        name="s",
        kind=Stream.Kind.REDIS,
        config={"url": "redis://127.0.0.1:6379/0", "key": "k", "group": "g"},
        learner=Stream.Learner.HALF_SPACE_TREES,
        state={"lag": 3, "records_per_second": 1.5},
    )
    ping.apply()
    metrics.upload_refused("format")
    metrics.cache_read("figures", "local", "hit")
    client = Client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/metrics", headers={"Authorization": "Bearer t"})
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_every_metric_of_the_dashboard_and_the_rules_is_served(scrape):
    dashboard, rules = _dashboard_expressions(), _rule_expressions()
    assert len({n for e in dashboard for n in NAME.findall(e)}) >= 12
    assert unknown_names(dashboard, scrape) == []
    assert unknown_names(rules, scrape) == []


@pytest.mark.django_db
def test_the_check_refuses_names_that_are_not_served_as_written(scrape):
    exprs = [
        "pynomaly_runs_total",  # a gauge has no _total
        "rate(pynomaly_http_requests[5m])",  # a counter's samples end in _total
        "pynomaly_celery_task_duration_seconds",  # a histogram's samples are _bucket/_sum/_count
        "pynomaly_no_such_metric",
        "pynomaly_runs + pynomaly_celery_tasks_total + pynomaly_http_request_duration_seconds_sum",
    ]
    assert unknown_names(exprs, scrape) == [
        "pynomaly_celery_task_duration_seconds",
        "pynomaly_http_requests",
        "pynomaly_no_such_metric",
        "pynomaly_runs_total",
    ]
