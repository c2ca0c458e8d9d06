"""Log records with a request id, as human text (the default) or one JSON object a line.

``LOG_FORMAT=json`` switches web, worker, beat and the stream processor to JSON lines. Every
record carries ``request_id``: the web request's (``X-Request-ID`` from the client when it is
short and made of safe characters, otherwise a new one, echoed in the response), carried into
the Celery tasks that request enqueues as a message header (pynomaly_web.celery's signals),
so the worker's lines for a task carry the id of the request that asked for it. Outside a
request or a task it is ``-``.

A JSON line holds only the fields listed in ``JsonFormatter.FIELDS`` plus the exception's
text: never the record's ``args`` objects or ``extra`` (``django.request`` passes the whole
request there, cookies and ``Authorization`` header included).
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
TASK_HEADER = "request_id"  # the Celery message header that carries it
NONE = "-"
_SAFE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def current() -> str | None:
    return _current.get()


def bind(request_id: str | None) -> contextvars.Token:
    return _current.set(request_id)


def unbind(token: contextvars.Token) -> None:
    _current.reset(token)


def valid(value: object) -> str | None:
    """The value if it may serve as a request id (1–64 of ``A-Z a-z 0-9 . _ : -``)."""
    if isinstance(value, str) and _SAFE.fullmatch(value):
        return value
    return None


def new_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds the request id for the request's duration and returns it as ``X-Request-ID``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = valid(request.headers.get(HEADER)) or new_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        # Bound until the response is closed (request_finished), not only while the chain
        # runs: Django logs a 4xx/5xx response ("Not Found: ...") after the last middleware.
        bind(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="apps.common.logs.forget")
def _forget_request_id(**_kwargs: Any) -> None:
    # A WSGI thread serves one request after another: its lines between them belong to none.
    bind(None)


_base_factory = logging.getLogRecordFactory()


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = _current.get() or NONE
    return record


def install_record_factory() -> None:
    """Every record of this process gets ``request_id``, whichever handler formats it."""
    if logging.getLogRecordFactory() is not _record_factory:
        logging.setLogRecordFactory(_record_factory)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request id, …"""

    FIELDS = ("process", "processName", "threadName", "task_id", "task_name")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NONE),
        }
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if value not in (None, "", "???"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(config: dict[str, Any]) -> None:
    """Django's ``LOGGING_CONFIG``: the record factory, then the dict."""
    install_record_factory()
    logging.config.dictConfig(config)


def use_json_on(logger: logging.Logger) -> None:
    """Celery sets up its own handlers on the worker and beat: give them the JSON formatter."""
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
