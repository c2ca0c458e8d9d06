import os

import pytest

from pynomaly_web import views
from tests.conftest import delete_broker_queue


@pytest.fixture(autouse=True)
def _no_cached_round_trip(monkeypatch):
    monkeypatch.setattr(views, "_celery_ok_at", None)


def test_healthz_answers_while_the_process_lives(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.integration
def test_readyz_is_ready_when_database_redis_and_a_worker_answer(client, celery_worker):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    # A round trip: a worker ran the health.ping task and named itself.
    assert body["checks"]["celery"]["worker"]
    assert body["checks"]["celery"]["round_trip_ms"] > 0
    assert body["failed"] == []


@pytest.mark.integration
def test_readyz_believes_a_recent_round_trip_for_a_few_seconds(client, celery_worker, settings):
    settings.READYZ_CACHE_SECONDS = 60
    assert client.get("/readyz").json()["checks"]["celery"]["round_trip_ms"] > 0
    second = client.get("/readyz")
    assert second.status_code == 200 and second.json()["checks"]["celery"] == {
        "ok": True,
        "cached": True,
    }


@pytest.mark.integration
@pytest.mark.celery
def test_readyz_names_the_celery_worker_when_none_answers(client, db, settings):
    settings.READYZ_CELERY_TIMEOUT = 0.5
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["celery"]
    assert "no Celery worker answered" in body["checks"]["celery"]["error"]


@pytest.mark.integration
@pytest.mark.celery
def test_readyz_fails_when_a_worker_answers_pings_but_runs_no_task(
    client, transactional_db, settings
):
    # Like a pool whose children never come up: the worker process answers control pings,
    # yet no task is executed (here it consumes another queue only).
    from celery.contrib.testing.worker import start_worker

    from pynomaly_web.celery import app

    settings.READYZ_CELERY_TIMEOUT = 1.0
    queue = f"nothing-here-{os.getpid()}"
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=[queue]
        ):
            response = client.get("/readyz")
    finally:
        delete_broker_queue(queue)
    assert response.status_code == 503
    error = response.json()["checks"]["celery"]["error"]
    assert "answered a ping but none ran a task within 1 s" in error


def test_readyz_names_redis_when_it_is_unreachable(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.READYZ_CELERY_TIMEOUT = 0.2
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "redis" in response.json()["failed"]
