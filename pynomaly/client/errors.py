"""The SDK's exceptions: :class:`ApiError` by HTTP status, and :class:`JobFailed` for
background jobs that end without success."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from .objects import Dataset, Run


class ApiError(Exception):
    """The server refused or failed a request; ``str(err)`` is the server's detail.

    Attributes
    ----------
    status : int
        HTTP status (0 when no response arrived).
    title, detail : str
        From the ``application/problem+json`` body.
    errors : list of dict
        Field errors ``{"loc": [...], "msg": ...}`` when the server sent them.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        errors: Iterable[dict[str, Any]] | None = None,
        type: str = "",  # noqa: A002
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail or title
        self.errors = list(errors or [])
        self.type = type
        super().__init__(self.detail)


class AuthError(ApiError):
    """401: the token is missing, wrong, expired or revoked."""


class PermissionDenied(ApiError):
    """403: the token's role or scope does not allow this."""


class NotFound(ApiError):
    """404: no such object in the token's workspace."""


class ValidationError(ApiError):
    """400 / 422: the request was understood but its content is refused."""


class RateLimited(ApiError):
    """429: too many requests; wait ``retry_after`` seconds."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed; retrying later may work."""


class ConnectionFailed(ApiError):
    """No HTTP response: the server is unreachable or the connection broke."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError, 401: AuthError, 403: PermissionDenied, 404: NotFound,
    422: ValidationError, 429: RateLimited,
}  # fmt: skip


class JobFailed(Exception):
    """A background job on the server ended without success."""


class RunFailed(JobFailed):
    """The run ended ``failed`` or ``cancelled``; ``run`` holds its final state."""

    def __init__(self, run: Run) -> None:
        self.run = run
        reason = run.error or ("cancelled" if run.status == "cancelled" else "no reason given")
        super().__init__(f"run {run.id} {run.status}: {reason}")


class IngestFailed(JobFailed):
    """The dataset could not be ingested; ``dataset`` holds its final state."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        super().__init__(f"dataset {dataset.id} failed: {dataset.error or 'no reason given'}")


def error_from_response(response: requests.Response) -> ApiError:
    """The :class:`ApiError` subclass for a non-2xx response (problem+json or not)."""
    status = response.status_code
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        pass
    if isinstance(body, dict):
        title = str(body.get("title") or response.reason or f"HTTP {status}")
        detail = body.get("detail")
        if not isinstance(detail, str):  # ninja's default {"detail": [...]} shape
            detail = json.dumps(detail) if detail is not None else title
        errors, kind = body.get("errors") or [], str(body.get("type") or "")
    else:
        title = response.reason or f"HTTP {status}"
        text = (response.text or "").strip()
        detail = f"{title} (HTTP {status})" + (
            f": {text[:200]}" if text and "<" not in text else ""
        )
        errors, kind = [], ""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    if cls is RateLimited:
        return RateLimited(status, title, detail, errors, kind,
                           retry_after=_retry_after(response.headers.get("Retry-After")))  # fmt: skip
    return cls(status, title, detail, errors, kind)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:  # an HTTP date
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
