"""The Celery application: configuration comes from Django settings (CELERY_* names)."""

import logging
import os
import threading
import time

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pynomaly_web.settings")

app = Celery("pynomaly_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["pynomaly_web"], related_name="health")

logger = logging.getLogger(__name__)


@worker_process_init.connect
def _warm_engine_in_background(**_kwargs) -> None:
    # Celery replaces a dead pool child only if the new one reports up within
    # worker_proc_alive_timeout (4 s); the numba compile took 42 s on a busy machine and the
    # pool looped. So the child reports up at once and compiles beside its first task (a
    # task using HBOS meanwhile waits on numba's own lock). After the fork only: model work
    # in the parent would poison every forked child (OpenMP fork hang, see PITFALLS.md).
    # The import stays here, in the child's main thread: a broken engine fails the child.
    from pynomaly.detect import warm_up

    threading.Thread(target=_warm_up, args=(warm_up,), name="engine-warm-up", daemon=True).start()


def _warm_up(warm_up) -> None:
    started = time.monotonic()
    warm_up()
    logger.info("engine warmed up in %.1f s", time.monotonic() - started)
