"""The Celery application: configuration comes from Django settings (CELERY_* names)."""

import contextvars
import logging
import os
import threading
import time

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
)

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


@worker_process_shutdown.connect
def _metrics_of_a_dead_child(pid=None, **_kwargs) -> None:
    # prometheus-client's multiprocess mode: a pool child's live gauges leave with it.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


@after_setup_logger.connect
@after_setup_task_logger.connect
def _json_logs(logger=None, **_kwargs) -> None:
    # Celery installs its own handlers on the worker and beat (text formats with the request
    # id: CELERY_WORKER_*LOG_FORMAT); LOG_FORMAT=json swaps their formatter.
    from django.conf import settings

    from apps.common import logs

    logs.install_record_factory()
    if logger is not None and settings.LOG_FORMAT == "json":
        logs.use_json_on(logger)


@before_task_publish.connect
def _carry_request_id(headers=None, **_kwargs) -> None:
    # A task enqueued while a request (or another task) is handled carries its request id.
    from apps.common import logs

    request_id = logs.current()
    if headers is not None and request_id and logs.TASK_HEADER not in headers:
        headers[logs.TASK_HEADER] = request_id


@task_prerun.connect
def _task_started(task_id=None, task=None, **_kwargs) -> None:
    from apps.common import logs, metrics

    metrics.task_started(task_id or "")
    # The enqueuing request's id (a header of the message; apply(headers=...) nests it), the
    # caller's own for an eager call, or (beat, a client without one) the task's own id.
    request = getattr(task, "request", None)
    carried = request.get(logs.TASK_HEADER) if request is not None else None
    if carried is None and request is not None and isinstance(request.headers, dict):
        carried = request.headers.get(logs.TASK_HEADER)
    request_id = logs.valid(carried) or logs.current() or task_id or None
    _bound[task_id or ""] = logs.bind(request_id)


@task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **_kwargs) -> None:
    # task_postrun follows success, failure and retry alike; its state says which
    # (SUCCESS, FAILURE, RETRY, ...), so one handler counts them all without double counting.
    from apps.common import logs, metrics

    name = getattr(task, "name", None) or "<unknown>"
    metrics.task_finished(task_id or "", name, _STATES.get(state or "", (state or "").lower()))
    token = _bound.pop(task_id or "", None)
    if token is not None:  # the worker's next lines belong to no task (or to the eager caller)
        try:
            logs.unbind(token)
        except ValueError:  # not the context prerun ran in (a pool that switches threads)
            logs.bind(None)


_bound: dict[str, contextvars.Token] = {}
_STATES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried", "REVOKED": "revoked"}
