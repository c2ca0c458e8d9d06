"""Prometheus metrics: the counters the apps bump and the ``/metrics`` scrape view.

Several processes (web, worker, beat, streams) each write their samples to files under
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode); the scrape aggregates
them. Without that variable the process's own registry is served (one process, e.g. runserver).
Figures that live in the database (runs by status) are read with one aggregate query per scrape.

Access: ``Authorization: Bearer $METRICS_TOKEN``, or a client address inside one of the CIDRs of
``METRICS_ALLOWED_ADDRESSES`` (default: loopback in DEBUG, nothing otherwise). Anyone else gets a
404 problem+json that says nothing about what is behind it.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

REQUESTS = Counter(
    "pynomaly_http_requests", "HTTP requests answered, by view and status", ["view", "status"]
)
REQUEST_LATENCY = Histogram(
    "pynomaly_http_request_duration_seconds",
    "Time from request to response, by view",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UPLOAD_REFUSALS = Counter(
    "pynomaly_upload_refusals", "Uploads refused, by reason (apps.datasets.uploads)", ["reason"]
)
CACHE_REQUESTS = Counter(
    "pynomaly_cache_requests",
    "Reads of a two-level cache (apps.common.cache), by cache, level (local, shared) and result",
    ["cache", "level", "result"],
)


TASKS = Counter(
    "pynomaly_celery_tasks",
    "Celery tasks finished, by task and state (succeeded, failed, retried)",
    ["task", "state"],
)
TASK_RUNTIME = Histogram(
    "pynomaly_celery_task_duration_seconds",
    "Time a Celery task ran in the worker, by task",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 10800),
)
RUN_STAGE = Histogram(
    "pynomaly_run_stage_seconds",
    "Time one run attempt spent in each stage (loading, preparing, fitting, scoring, ...)",
    ["stage"],
    buckets=(0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 10800),
)
_task_started: dict[str, float] = {}


def run_stages_timed(timings: dict[str, float]) -> None:
    """A finished attempt's seconds per stage (the run's ``timings``), one observation each."""
    for stage, seconds in timings.items():
        RUN_STAGE.labels(stage=stage).observe(seconds)


def task_started(task_id: str) -> None:
    _task_started[task_id] = time.perf_counter()


def task_finished(task_id: str, task: str, state: str) -> None:
    """Called from the worker's task_postrun signal (pynomaly_web.celery)."""
    TASKS.labels(task=task, state=state).inc()
    start = _task_started.pop(task_id, None)
    if start is not None:
        TASK_RUNTIME.labels(task=task).observe(time.perf_counter() - start)


def upload_refused(reason: str) -> None:
    UPLOAD_REFUSALS.labels(reason=reason).inc()


def cache_read(cache: str, level: str, result: str) -> None:
    """One read of ``cache`` at ``level`` (local, shared): hit, miss or error."""
    CACHE_REQUESTS.labels(cache=cache, level=level, result=result).inc()


class RunsCollector(Collector):
    """Runs by status, one ``GROUP BY`` per scrape (the table has an index on status)."""

    def collect(self) -> Iterator[Metric]:
        from django.apps import apps  # the runs app sits above common: looked up, not imported
        from django.db.models import Count

        family = GaugeMetricFamily("pynomaly_runs", "Runs by status", labels=["status"])
        run = apps.get_model("runs", "Run")
        counts = dict.fromkeys(run.Status.values, 0)
        for row in run.objects.values("status").annotate(n=Count("id")).order_by():
            counts[row["status"]] = row["n"]
        for status, n in sorted(counts.items()):
            family.add_metric([status], n)
        yield family


class DatabaseCollector(Collector):
    """Figures kept in other apps' tables, each one aggregate query per scrape.

    Runs by detector group by detector version (not by the pipeline JSON) and then read the
    pipelines of those versions only: the JSON is decoded once per distinct version, not per run.
    """

    def collect(self) -> Iterator[Metric]:
        from django.apps import apps
        from django.db.models import Count, Sum

        run = apps.get_model("runs", "Run")
        version = apps.get_model("detectors", "DetectorConfigVersion")
        by_version = list(
            run.objects.values("detector_version_id", "status").annotate(n=Count("id")).order_by()
        )
        pipelines = dict(
            version.objects.filter(
                pk__in={row["detector_version_id"] for row in by_version}
            ).values_list("pk", "pipeline")
        )
        counts: dict[tuple[str, str], int] = {}
        for row in by_version:
            key = (_detector_label(pipelines.get(row["detector_version_id"])), row["status"])
            counts[key] = counts.get(key, 0) + row["n"]
        family = GaugeMetricFamily(
            "pynomaly_runs_by_detector",
            "Runs by detector (keys joined by '+' for an ensemble) and status",
            labels=["detector", "status"],
        )
        for (detector, status), n in sorted(counts.items()):
            family.add_metric([detector, status], n)
        yield family

        rows = run.objects.filter(status=run.Status.SUCCEEDED).aggregate(n=Sum("rows_done"))["n"]
        yield GaugeMetricFamily(
            "pynomaly_rows_scored", "Rows scored by the succeeded runs", value=rows or 0
        )

        delivery = apps.get_model("alerts", "Delivery")
        family = GaugeMetricFamily(
            "pynomaly_alert_deliveries", "Alert deliveries by status", labels=["status"]
        )
        by_status = dict.fromkeys(delivery.Status.values, 0)
        for counted in delivery.objects.values("status").annotate(n=Count("id")).order_by():
            by_status[counted["status"]] = counted["n"]
        for status, n in sorted(by_status.items()):
            family.add_metric([status], n)
        yield family

        stream = apps.get_model("streams", "Stream")
        lag = GaugeMetricFamily(
            "pynomaly_stream_lag",
            "Records the broker holds that the stream has not read yet (as its processor last saw)",
            labels=["stream"],
        )
        rate = GaugeMetricFamily(
            "pynomaly_stream_records_per_second",
            "Records per second the stream's processor last measured",
            labels=["stream"],
        )
        for pk, state in stream.objects.values_list("pk", "state").order_by("pk"):
            state = state if isinstance(state, dict) else {}
            if isinstance(state.get("lag"), (int, float)):
                lag.add_metric([str(pk)], state["lag"])
            if isinstance(state.get("records_per_second"), (int, float)):
                rate.add_metric([str(pk)], state["records_per_second"])
        yield lag
        yield rate


# kombu's Redis transport keeps a queue's messages of priority p > 0 in the list
# "<queue>\x06\x16<p>" (priority_steps 0, 3, 6, 9); priority 0 in "<queue>" itself.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
WORKERS_CACHE_SECONDS = 15.0
_workers_cache: tuple[float, int] | None = None


def _queue_names() -> list[str]:
    names = [settings.CELERY_TASK_DEFAULT_QUEUE]
    for queue in getattr(settings, "CELERY_TASK_QUEUES", None) or ():
        name = getattr(queue, "name", queue)
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def _worker_count() -> int:
    """Workers answering a control ping within 1 s, cached 15 s per process.

    Celery keeps no list of live workers anywhere we can read (its heartbeats are broadcast
    events, stored by nobody), so asking is the real figure; the cache bounds the cost to one
    broadcast per 15 s per scraped process, and a scrape waits at most 1 s for it.
    """
    global _workers_cache
    now = time.monotonic()
    if _workers_cache is not None and now - _workers_cache[0] < WORKERS_CACHE_SECONDS:
        return _workers_cache[1]
    from celery import current_app  # the project's app (pynomaly_web.celery), set at start

    replies = current_app.control.ping(timeout=1.0) or []
    count = len({host for reply in replies for host in reply})
    _workers_cache = (now, count)
    return count


class BrokerCollector(Collector):
    """Queue depth (Redis ``LLEN`` of each Celery queue) and live workers, at scrape."""

    def collect(self) -> Iterator[Metric]:
        import redis

        url = settings.CELERY_BROKER_URL
        # Only the Redis transport keeps a queue as a list we can measure; with another
        # broker (e.g. RabbitMQ) the depth is that broker's own metric, so it is left out here.
        if url.startswith(("redis://", "rediss://", "unix://")):
            depth = GaugeMetricFamily(
                "pynomaly_queue_depth", "Messages waiting in a Celery queue", labels=["queue"]
            )
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            try:
                for name in _queue_names():
                    n = sum(int(client.llen(name + suffix)) for suffix in _PRIORITY_SUFFIXES)
                    depth.add_metric([name], n)
            finally:
                client.close()
            yield depth
        yield GaugeMetricFamily(
            "pynomaly_workers",
            "Celery workers that answered a control ping (1 s timeout, cached 15 s)",
            value=_worker_count(),
        )


def _detector_label(pipeline: object) -> str:
    detectors = pipeline.get("detectors", []) if isinstance(pipeline, dict) else []
    keys = [d[0] if isinstance(d, (list, tuple)) else d.get("key", "?") for d in detectors]
    return "+".join(str(k) for k in keys) or "unknown"


def _view_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unresolved>"  # 404s are not labelled by path: a scanner cannot grow the series
    return match.view_name or "<unnamed>"


class RequestMetricsMiddleware:
    """Counts every response by view and status and times it (first in the chain)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        view = _view_name(request)
        REQUESTS.labels(view=view, status=str(response.status_code)).inc()
        REQUEST_LATENCY.labels(view=view).observe(time.perf_counter() - start)
        return response


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = os.environ.get("METRICS_ALLOWED_ADDRESSES")
    if raw is None:
        raw = "127.0.0.0/8,::1/128" if settings.DEBUG else ""
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()
    ]


def _authorised(request: HttpRequest) -> bool:
    token = os.environ.get("METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
    except ValueError:
        return False
    return any(address in network for network in allowed_networks())


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorised(request):
        body = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "Not found."}
        return HttpResponse(json.dumps(body), status=404, content_type="application/problem+json")
    registry = _registry()
    collectors = [RunsCollector(), DatabaseCollector(), BrokerCollector()]
    for collector in collectors:
        registry.register(collector)
    try:
        output = generate_latest(registry)
    finally:
        for collector in collectors:
            registry.unregister(collector)
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)
