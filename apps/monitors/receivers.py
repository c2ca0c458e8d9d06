"""Signal receivers: a run ended (finish its execution); a dataset got a version (trigger)."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from apps.datasets.signals import version_created
from apps.runs.signals import run_finished

from . import executions, services
from .models import Monitor, MonitorExecution

logger = logging.getLogger(__name__)


@receiver(run_finished, dispatch_uid="monitors.run_finished")
def _run_finished(sender, run_id: int, **kwargs) -> None:
    # A failure here is retried by the sweeper; it must never fail the run that finished.
    try:
        executions.execution_finish(run_id=run_id)
    except Exception:
        logger.exception("finishing the monitor execution of run %s failed", run_id)


@receiver(version_created, dispatch_uid="monitors.version_created")
def _version_created(sender, version, **kwargs) -> None:
    monitors = Monitor.objects.filter(
        dataset_id=version.dataset_id,
        schedule=Monitor.Schedule.ON_NEW_VERSION,
        status=Monitor.Status.ACTIVE,
    )
    for monitor in monitors:
        try:
            services.monitor_trigger(monitor=monitor, trigger=MonitorExecution.Trigger.NEW_VERSION)
        except Exception:
            logger.exception("monitor %s: new version %s not executed", monitor.pk, version.pk)
