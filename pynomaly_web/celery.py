"""The Celery application: configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pynomaly_web.settings")

app = Celery("pynomaly_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _warm_engine(**_kwargs) -> None:
    # Warm numba-compiled detectors in each pool process *after* the fork: model work in
    # the parent would poison forked children (OpenMP fork hang, see PITFALLS.md).
    try:
        from pynomaly.detect import warm_up
    except ImportError:  # engine not present in a stripped deployment
        return
    warm_up()
