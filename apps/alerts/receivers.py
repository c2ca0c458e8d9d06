"""Listening to the monitors app: a finished execution is checked against its alert rules."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from apps.monitors.signals import execution_finished

from .services import alerts_for_execution

logger = logging.getLogger(__name__)


@receiver(execution_finished, dispatch_uid="alerts.execution_finished")
def _on_execution_finished(sender, execution, **kwargs) -> None:
    # The execution is recorded already: a bug in alerting must not fail the monitor.
    try:
        alerts_for_execution(execution=execution)
    except Exception:
        logger.exception("alert evaluation of execution %s failed", execution.pk)
