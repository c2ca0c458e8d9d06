"""RFC 9457 problem details for every API error: bad input gets a 4xx with a reason, never a 500."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


class ApiProblem(Exception):
    """Raise anywhere in an endpoint to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict] | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(detail)
        self.status, self.detail, self.errors, self.title = status, detail, errors, title
        self.headers = headers or {}
        self.extra = extra or {}  # RFC 9457 extension members, e.g. the cost estimate


def field_error(loc: list, msg: str) -> ApiProblem:
    """A 422 naming one field (``loc`` as in pydantic: ["body", "pipeline", ...])."""
    return ApiProblem(422, msg, errors=[{"loc": list(loc), "msg": msg}])


def problem(
    status: int,
    detail: str,
    *,
    errors: list[dict] | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    for key, value in (extra or {}).items():
        body.setdefault(key, value)  # never overrides the standard members
    response = HttpResponse(json.dumps(body, default=str), status=status, content_type=PROBLEM)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _validation_errors(exc: ValidationError) -> list[dict]:
    errors = []
    for e in exc.errors:
        loc = list(e.get("loc", ()))
        if loc[:2] == ["body", "body"]:  # ninja nests the body under its parameter name: drop it
            loc = loc[1:]
        errors.append({"loc": loc, "msg": str(e.get("msg", "invalid"))})
    return errors


def install(api) -> None:
    """Route every exception ninja sees through ``problem``."""

    @api.exception_handler(ApiProblem)
    def _api_problem(request: HttpRequest, exc: ApiProblem):
        return problem(
            exc.status,
            exc.detail,
            errors=exc.errors,
            title=exc.title,
            headers=exc.headers,
            extra=exc.extra,
        )

    @api.exception_handler(ValidationError)
    def _validation(request: HttpRequest, exc: ValidationError):
        if getattr(request, "upload_too_large", False):  # LimitedUploadHandler stopped the body
            from .routers.datasets import too_large

            return too_large(request)
        return problem(
            422,
            "The request is not valid; see errors.",
            errors=_validation_errors(exc),
            title="Validation failed",
        )

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: AuthenticationError):
        return problem(
            401,
            "A valid API token is required: send `Authorization: Bearer pyn_…`. "
            "The token may be unknown, revoked or expired, or no longer grant access.",
            headers={"WWW-Authenticate": 'Bearer realm="pynomaly"'},
        )

    @api.exception_handler(HttpError)
    def _http_error(request: HttpRequest, exc: HttpError):
        detail = str(exc)
        if exc.status_code == 400 and "parse" in detail.lower():
            detail = "The request body is not valid JSON."
        return problem(exc.status_code, detail)

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Http404):
        return problem(404, str(exc) or "Not found.")

    @api.exception_handler(PermissionDenied)
    def _forbidden(request: HttpRequest, exc: PermissionDenied):
        return problem(403, str(exc) or "You may not do this.")

    @api.exception_handler(Exception)
    def _server_error(request: HttpRequest, exc: Exception):
        log.exception("API error on %s %s", request.method, request.path)
        return problem(500, "Something went wrong on our side; it has been logged.")


def not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Unknown paths under /api/ answer a problem, not the HTML 404 page."""
    return problem(404, "There is no such API endpoint.")
