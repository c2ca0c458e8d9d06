import pytest


def test_healthz_answers_while_the_process_lives(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.integration
def test_readyz_is_ready_when_database_redis_and_a_worker_answer(client, celery_worker):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["celery"]["workers"] >= 1
    assert body["failed"] == []


@pytest.mark.integration
def test_readyz_names_the_celery_worker_when_none_answers(client, db, settings):
    settings.READYZ_CELERY_TIMEOUT = 0.5
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["celery"]
    assert "no Celery worker answered" in body["checks"]["celery"]["error"]


def test_readyz_names_redis_when_it_is_unreachable(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.READYZ_CELERY_TIMEOUT = 0.2
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "redis" in response.json()["failed"]
