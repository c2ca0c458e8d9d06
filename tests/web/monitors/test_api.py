"""/api/v1/monitors: create, read, change, pause/resume, run now, executions; roles and strangers."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from apps.audit.models import AuditEvent
from apps.monitors.models import Monitor
from tests.web.api.conftest import Api, assert_problem, make_token


@pytest.fixture(autouse=True)
def _limits(settings):
    from apps.api import throttling

    settings.API_RATE_PER_TOKEN = settings.API_RATE_PER_IP = settings.API_RATE_ANON = "10000/min"
    throttling.reset_all()


@pytest.fixture
def api(alice, tenant_a):
    return Api(make_token(alice, tenant_a)[1])


@pytest.fixture
def sent(monkeypatch):
    from apps.monitors import tasks

    messages: list[int] = []
    monkeypatch.setattr(tasks.execute_monitor, "delay", messages.append)
    return messages


def _body(version, config, **kw):
    body = {
        "name": "orders",
        "dataset_id": version.dataset_id,
        "detector_config_id": config.pk,
        "schedule": "interval",
        "interval_seconds": 30,
    }
    body.update(kw)
    return body


def test_it_creates_reads_and_lists_a_monitor(api, version, config):
    response = api.post("/monitors", _body(version, config, retrain="on_drift"))
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["schedule"] == "interval" and created["interval_seconds"] == 30
    assert created["status"] == "active" and created["next_execution_at"] is not None
    assert created["last_execution"] is None and created["retrain"] == "on_drift"
    monitor = Monitor.objects.get(pk=created["id"])
    assert PeriodicTask.objects.get(pk=monitor.periodic_task_id).enabled
    assert api.get(f"/monitors/{monitor.pk}").json()["name"] == "orders"
    assert [m["id"] for m in api.get("/monitors").json()["items"]] == [monitor.pk]


def test_bad_input_is_a_422_naming_the_field(api, version, config):
    body = assert_problem(
        api.post("/monitors", _body(version, config, schedule="cron", cron="x")), 422
    )
    assert body["errors"][0]["loc"] == ["body", "cron"]
    body = assert_problem(api.post("/monitors", _body(version, config, dataset_id=None)), 422)
    assert body["errors"][0]["loc"] == ["body", "source_id"]
    assert_problem(api.post("/monitors", _body(version, config, interval_seconds=2)), 422)
    assert not Monitor.objects.exists()


def test_it_patches_pauses_resumes_and_deletes(api, version, config):
    monitor_id = api.post("/monitors", _body(version, config)).json()["id"]
    patched = api.patch(f"/monitors/{monitor_id}", {"schedule": "cron", "cron": "*/5 * * * *"})
    assert patched.status_code == 200, patched.content
    assert patched.json()["cron"] == "*/5 * * * *" and patched.json()["interval_seconds"] is None
    assert api.post(f"/monitors/{monitor_id}/pause").json()["status"] == "paused"
    assert not Monitor.objects.get(pk=monitor_id).periodic_task.enabled
    assert_problem(api.post(f"/monitors/{monitor_id}/pause"), 409)
    assert api.post(f"/monitors/{monitor_id}/resume").json()["status"] == "active"
    assert api.delete(f"/monitors/{monitor_id}").status_code == 204
    assert not PeriodicTask.objects.filter(name=f"monitor-{monitor_id}").exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="monitor.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "monitor.created", "monitor.updated", "monitor.paused", "monitor.resumed", "monitor.deleted"
    ]  # fmt: skip


def test_run_now_queues_an_execution_and_executions_show_counts_and_drift(
    api, version, config, inline_tasks
):
    monitor_id = api.post("/monitors", _body(version, config)).json()["id"]
    with inline_tasks():
        response = api.post(f"/monitors/{monitor_id}/run")
    assert response.status_code == 202 and response.json()["number"] == 1
    page = api.get(f"/monitors/{monitor_id}/executions").json()
    [execution] = page["items"]
    assert execution["status"] == "succeeded" and execution["rows"] == 300
    assert execution["retrained"] and execution["run_id"] and execution["anomalies"] > 0
    one = api.get(f"/monitors/{monitor_id}/executions/1").json()
    assert one == execution
    assert_problem(api.get(f"/monitors/{monitor_id}/executions/9"), 404)
    assert api.get(f"/monitors/{monitor_id}").json()["last_execution"]["number"] == 1


def test_run_now_while_one_is_in_flight_is_a_409(api, version, config, sent):
    monitor_id = api.post("/monitors", _body(version, config)).json()["id"]
    assert api.post(f"/monitors/{monitor_id}/run").status_code == 202
    assert_problem(api.post(f"/monitors/{monitor_id}/run"), 409)


def test_a_viewer_reads_and_is_refused_writes(alice, tenant_a, vera, version, config, sent):
    monitor_id = (
        Api(make_token(alice, tenant_a)[1]).post("/monitors", _body(version, config)).json()["id"]
    )
    viewer = Api(make_token(vera, tenant_a)[1])
    assert viewer.get(f"/monitors/{monitor_id}").status_code == 200
    assert_problem(viewer.post(f"/monitors/{monitor_id}/run"), 403)
    assert_problem(viewer.post("/monitors", _body(version, config, name="v")), 403)
    assert_problem(viewer.delete(f"/monitors/{monitor_id}"), 403)
    assert sent == []


def test_a_stranger_gets_404_and_cannot_point_at_our_objects(
    api, charlie, tenant_b, version, config, sent
):
    monitor_id = api.post("/monitors", _body(version, config)).json()["id"]
    stranger = Api(make_token(charlie, tenant_b)[1])
    for path in (f"/monitors/{monitor_id}", f"/monitors/{monitor_id}/executions"):
        assert_problem(stranger.get(path), 404)
    assert_problem(stranger.post(f"/monitors/{monitor_id}/run"), 404)
    assert_problem(stranger.post("/monitors", _body(version, config, name="mine")), 404)
    assert stranger.get("/monitors").json()["items"] == [] and sent == []
