"""Monitor pages: list, create/edit with field errors, the monitor page, actions; roles and strangers."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from apps.audit.models import AuditEvent
from apps.monitors.models import Monitor, MonitorExecution
from apps.monitors.services import MonitorInput, monitor_create

pytestmark = pytest.mark.usefixtures("media")


def _url(tenant, name, **kw):
    return reverse(f"monitors:{name}", kwargs={"tenant_slug": tenant.slug, **kw})


@pytest.fixture
def sent(monkeypatch):
    from apps.monitors import tasks

    messages: list[int] = []
    monkeypatch.setattr(tasks.execute_monitor, "delay", messages.append)
    return messages


@pytest.fixture
def monitor(alice, tenant_a, version, config):
    return monitor_create(
        tenant=tenant_a,
        user=alice,
        data=MonitorInput(
            name="orders",
            dataset=version.dataset,
            detector_version=config.current,
            interval_seconds=300,
        ),
    )


def _form(version, config, **kw):
    data = {
        "name": "payments",
        "watch": "dataset",
        "dataset": version.dataset_id,
        "detector": config.pk,
        "schedule": "interval",
        "interval_seconds": "120",
        "cron": "",
        "retrain": "manual",
    }
    data.update(kw)
    return data


def test_an_analyst_creates_a_monitor_with_its_schedule(bob_client, tenant_a, version, config):
    response = bob_client.post(_url(tenant_a, "create"), _form(version, config))
    monitor = Monitor.objects.get(name="payments")
    assert response.status_code == 302 and response.url == _url(
        tenant_a, "detail", monitor_id=monitor.pk
    )
    assert PeriodicTask.objects.get(pk=monitor.periodic_task_id).interval.every == 120
    page = bob_client.get(_url(tenant_a, "list")).content.decode()
    assert "payments" in page and "every 120 s" in page


def test_bad_input_gets_400_with_the_field_errors(bob_client, tenant_a, version, config):
    response = bob_client.post(
        _url(tenant_a, "create"), _form(version, config, schedule="cron", cron="bogus")
    )
    assert response.status_code == 400
    assert "five fields" in response.content.decode()
    response = bob_client.post(
        _url(tenant_a, "create"), _form(version, config, retrain="every_n", retrain_every="")
    )
    assert response.status_code == 400 and "how many executions" in response.content.decode()
    assert not Monitor.objects.exists()


def test_the_monitor_page_shows_history_drift_and_anomalies(
    alice_client, tenant_a, monitor, inline_tasks
):
    from apps.monitors.services import monitor_trigger
    from tests.web.runs.factories import blobs

    from .conftest import add_version

    with inline_tasks():
        monitor_trigger(monitor=monitor, trigger="manual")
    shifted = blobs(200, seed=2, label=False)
    shifted["a"] += 4
    add_version(monitor.dataset, shifted)
    with inline_tasks():
        monitor_trigger(monitor=monitor, trigger="manual")
    page = alice_client.get(_url(tenant_a, "detail", monitor_id=monitor.pk)).content.decode()
    assert 'id="monitor-history"' in page and 'data-execution="2"' in page
    assert (
        'data-feature="a" data-drifted="true"' in page
        and 'data-feature="b" data-drifted="false"' in page
    )
    assert "drift: a" in page
    run = monitor.executions.get(number=2).run
    assert f'href="{run.url("results", sort="score", dir="desc")}"' in page.replace("&amp;", "&")
    assert "Next execution" in page
    first = alice_client.get(
        _url(tenant_a, "detail", monitor_id=monitor.pk) + "?execution=1",
        headers={"HX-Request": "true", "HX-Target": "monitor-drift"},
    ).content.decode()
    assert first.lstrip().startswith('<section class="card mt-4" id="monitor-drift"')


def test_pause_resume_and_run_now_are_audited(bob_client, tenant_a, monitor, sent):
    bob_client.post(_url(tenant_a, "pause", monitor_id=monitor.pk))
    monitor.refresh_from_db()
    assert monitor.status == "paused" and not monitor.periodic_task.enabled
    bob_client.post(_url(tenant_a, "resume", monitor_id=monitor.pk))
    monitor.refresh_from_db()
    assert monitor.status == "active"
    with_callbacks = bob_client.post(_url(tenant_a, "run", monitor_id=monitor.pk))
    assert with_callbacks.status_code == 302
    execution = MonitorExecution.objects.get(monitor=monitor)
    assert execution.trigger == "manual"
    actions = set(
        AuditEvent.objects.filter(target_id=str(monitor.pk)).values_list("action", flat=True)
    )
    assert {"monitor.paused", "monitor.resumed", "monitor.run_requested"} <= actions


def test_an_edit_keeps_the_task_and_a_delete_removes_everything(
    alice_client, tenant_a, monitor, version, config
):
    response = alice_client.post(
        _url(tenant_a, "edit", monitor_id=monitor.pk),
        _form(version, config, name="orders", schedule="cron", cron="0 * * * *"),
    )
    assert response.status_code == 302
    monitor.refresh_from_db()
    assert monitor.periodic_task.crontab.minute == "0"
    alice_client.post(_url(tenant_a, "delete", monitor_id=monitor.pk))
    assert (
        not Monitor.objects.exists()
        and not PeriodicTask.objects.filter(name__startswith="monitor-").exists()
    )


def test_a_viewer_reads_but_may_not_change(vera_client, tenant_a, monitor, sent, version, config):
    assert vera_client.get(_url(tenant_a, "detail", monitor_id=monitor.pk)).status_code == 200
    page = vera_client.get(_url(tenant_a, "detail", monitor_id=monitor.pk)).content.decode()
    assert "Run now" not in page
    for name in ("pause", "run", "delete"):
        assert vera_client.post(_url(tenant_a, name, monitor_id=monitor.pk)).status_code == 403
    assert vera_client.get(_url(tenant_a, "create")).status_code == 403
    assert vera_client.post(_url(tenant_a, "create"), _form(version, config)).status_code == 403
    assert sent == [] and Monitor.objects.get().status == "active"


def test_a_stranger_gets_404_everywhere(charlie_client, tenant_a, tenant_b, monitor, sent):
    assert charlie_client.get(_url(tenant_a, "list")).status_code == 404
    for name in ("detail", "edit"):
        assert charlie_client.get(_url(tenant_b, name, monitor_id=monitor.pk)).status_code == 404
    for name in ("pause", "resume", "run", "delete"):
        assert charlie_client.post(_url(tenant_b, name, monitor_id=monitor.pk)).status_code == 404
    assert sent == [] and Monitor.objects.filter(pk=monitor.pk).exists()
