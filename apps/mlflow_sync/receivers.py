"""A finished run is queued for MLflow in its own task; this never fails the run."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from apps.runs.signals import run_finished

from . import services

logger = logging.getLogger(__name__)


@receiver(run_finished, dispatch_uid="mlflow_sync.run_finished")
def _run_finished(sender, run_id: int, **kwargs) -> None:
    try:
        sync = services.sync_for_finished_run(run_id=run_id)
        if sync is not None:
            services.enqueue(sync)
    except Exception:  # the sweeper picks it up; the run has already finished
        logger.exception("queueing run %s for MLflow failed", run_id)
