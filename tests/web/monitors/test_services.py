"""Monitor services: validation, the beat schedule kept in step, pause/resume/delete, audit."""

from __future__ import annotations

import json

import pytest
from django_celery_beat.models import PeriodicTask

from apps.audit.models import AuditEvent
from apps.monitors import schedules
from apps.monitors.models import Monitor
from apps.monitors.services import (
    MonitorInput,
    MonitorInvalid,
    MonitorStateError,
    monitor_create,
    monitor_delete,
    monitor_pause,
    monitor_resume,
    monitor_update,
)

pytestmark = pytest.mark.usefixtures("media")


def _input(version, config, **kw):
    values = dict(
        name="orders",
        dataset=version.dataset,
        detector_version=config.current,
        schedule="interval",
        interval_seconds=60,
    )
    values.update(kw)
    return MonitorInput(**values)


def _task(monitor) -> PeriodicTask:
    monitor.refresh_from_db()
    return PeriodicTask.objects.get(pk=monitor.periodic_task_id)


def test_it_creates_an_enabled_interval_task_that_ticks_the_monitor(
    alice, tenant_a, version, config
):
    monitor = monitor_create(tenant=tenant_a, user=alice, data=_input(version, config))
    task = _task(monitor)
    assert task.name == f"monitor-{monitor.pk}" and task.task == "monitors.tick"
    assert json.loads(task.kwargs) == {"monitor_id": monitor.pk}
    assert task.enabled and task.interval.every == 60 and task.crontab is None
    assert schedules.next_execution_at(monitor) is not None
    assert AuditEvent.objects.filter(action="monitor.created", target_id=str(monitor.pk)).exists()


def test_an_update_to_cron_changes_the_same_task(alice, tenant_a, version, config):
    monitor = monitor_create(tenant=tenant_a, user=alice, data=_input(version, config))
    before = _task(monitor).pk
    monitor_update(
        monitor=monitor,
        user=alice,
        data=_input(version, config, schedule="cron", cron="*/15  * * * *"),
    )
    task = _task(monitor)
    assert task.pk == before and task.interval is None
    assert (task.crontab.minute, task.crontab.hour) == ("*/15", "*")
    monitor.refresh_from_db()
    assert monitor.cron == "*/15 * * * *" and monitor.interval_seconds is None
    event = AuditEvent.objects.get(action="monitor.updated", target_id=str(monitor.pk))
    assert event.details["after"]["schedule"] == "cron"


def test_pause_disables_and_resume_enables_the_task(alice, tenant_a, version, config):
    monitor = monitor_create(tenant=tenant_a, user=alice, data=_input(version, config))
    monitor = monitor_pause(monitor=monitor, user=alice)
    assert monitor.status == Monitor.Status.PAUSED and not _task(monitor).enabled
    assert schedules.next_execution_at(monitor) is None
    with pytest.raises(MonitorStateError):
        monitor_pause(monitor=monitor, user=alice)
    monitor = monitor_resume(monitor=monitor, user=alice)
    assert _task(monitor).enabled
    actions = set(
        AuditEvent.objects.filter(target_id=str(monitor.pk)).values_list("action", flat=True)
    )
    assert {"monitor.paused", "monitor.resumed"} <= actions


def test_on_new_version_has_no_task_and_delete_removes_it(alice, tenant_a, version, config):
    monitor = monitor_create(tenant=tenant_a, user=alice, data=_input(version, config))
    task_id = _task(monitor).pk
    monitor = monitor_update(
        monitor=monitor, user=alice, data=_input(version, config, schedule="on_new_version")
    )
    assert monitor.periodic_task is None and not PeriodicTask.objects.filter(pk=task_id).exists()
    monitor = monitor_update(monitor=monitor, user=alice, data=_input(version, config))
    task_id = _task(monitor).pk
    monitor_delete(monitor=monitor, user=alice)
    assert not PeriodicTask.objects.filter(pk=task_id).exists()
    assert not Monitor.objects.filter(pk=monitor.pk).exists()
    assert AuditEvent.objects.filter(action="monitor.deleted").exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": " "}, "name"),
        ({"schedule": "interval", "interval_seconds": 1}, "interval_seconds"),
        ({"schedule": "cron", "cron": "every minute"}, "cron"),
        ({"schedule": "cron", "cron": "61 * * * *"}, "cron"),
        ({"retrain": "every_n", "retrain_every": None}, "retrain_every"),
        ({"dataset": None}, "source"),
    ],
)
def test_it_refuses_bad_input_naming_the_field(alice, tenant_a, version, config, changes, field):
    with pytest.raises(MonitorInvalid) as caught:
        monitor_create(tenant=tenant_a, user=alice, data=_input(version, config, **changes))
    assert field in [f for f, _ in caught.value.errors]
    assert (
        not Monitor.objects.exists()
        and not PeriodicTask.objects.filter(name__startswith="monitor-").exists()
    )


def test_names_are_unique_per_workspace_and_objects_must_be_its_own(
    alice, tenant_a, charlie, tenant_b, version, config
):
    monitor_create(tenant=tenant_a, user=alice, data=_input(version, config))
    with pytest.raises(MonitorInvalid, match="already exists"):
        monitor_create(tenant=tenant_a, user=alice, data=_input(version, config, name="ORDERS"))
    with pytest.raises(MonitorInvalid) as caught:
        monitor_create(tenant=tenant_b, user=charlie, data=_input(version, config, name="x"))
    assert {"dataset", "detector_version"} <= {f for f, _ in caught.value.errors}


def test_a_watched_dataset_and_a_used_configuration_cannot_be_deleted(
    alice, tenant_a, version, config
):
    from apps.datasets.services import DatasetInUse, dataset_delete
    from apps.detectors.services import ConfigInUse, detector_config_delete

    monitor_create(tenant=tenant_a, user=alice, data=_input(version, config))
    with pytest.raises(DatasetInUse, match="monitor “orders” watches it"):
        dataset_delete(dataset=version.dataset, user=alice)
    with pytest.raises(ConfigInUse, match="monitor “orders” uses it"):
        detector_config_delete(config=config, user=alice)


def test_deleting_the_workspace_takes_its_monitors_and_their_beat_entries(
    alice, tenant_a, version, config
):
    from apps.monitors.tasks import tick_monitor
    from apps.tenants.services import tenant_delete

    monitor = monitor_create(tenant=tenant_a, user=alice, data=_input(version, config))
    tenant_delete(tenant=tenant_a, actor=alice, confirm_name=tenant_a.name)
    assert not Monitor.objects.exists()
    tick_monitor(monitor.pk)  # beat's next tick finds no monitor and removes its own entry
    assert not PeriodicTask.objects.filter(name=f"monitor-{monitor.pk}").exists()
