"""Database sources: CRUD for admins, plus test, preview and pull. Credentials never come back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from apps.sources.models import Source
from apps.sources.services import (
    SourceError,
    SourceInUse,
    source_create,
    source_delete,
    source_preview,
    source_pull,
    source_pull_later,
    source_test,
    source_update,
)
from apps.tenants.permissions import MANAGE

from ..auth import api_require, write_auth
from ..errors import ApiProblem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from .common import LIMIT_DESCRIPTION, scoped_or_404
from .datasets import version_out

router = Router(tags=["sources"])


class SourceIn(Schema):
    """Every field optional on PATCH; on create name, kind (or url) and a query or table are needed."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    kind: str | None = Field(None, description="postgresql, mysql or sqlite")
    url: str | None = Field(
        None, max_length=2000, description="postgresql://user:pass@host:5432/db — fills the fields"
    )
    host: str | None = Field(None, max_length=255)
    port: int | None = None
    database: str | None = Field(None, max_length=255)
    username: str | None = Field(None, max_length=255)
    password: str | None = Field(
        None, max_length=1000, description="write-only; omitted or empty keeps the stored one"
    )
    clear_password: bool = False
    options: dict[str, str] | None = Field(None, description="driver options: sslmode")
    query: str | None = Field(None, max_length=100_000)
    table: str | None = Field(None, max_length=255)
    columns: list[str] | None = None
    watermark_column: str | None = Field(None, max_length=255)
    reset_watermark: bool = False
    statement_timeout_seconds: int | None = None
    row_cap: int | None = None
    columns_cap: int | None = None


class SourceOut(Schema):
    id: int
    name: str
    kind: str
    host: str
    port: int | None
    database: str
    username: str
    password_set: bool
    options: dict[str, Any]
    query: str
    table: str
    columns: list[str]
    watermark_column: str
    watermark_value: str
    watermark_type: str
    statement_timeout_seconds: int
    row_cap: int
    columns_cap: int
    dataset_id: int | None
    last_pull_at: datetime | None
    last_pull_rows: int | None
    last_error: str
    pulling: bool
    created_at: datetime
    updated_at: datetime


class SourcePage(Schema):
    items: list[SourceOut]
    next_cursor: str | None = None


class TestOut(Schema):
    ok: bool
    server: str
    columns: list[str]
    message: str


class PreviewOut(Schema):
    server: str
    columns: list[str]
    rows: list[list[Any]]


class PullOut(Schema):
    queued: bool
    source: SourceOut
    version: dict[str, Any] | None = None


def source_out(s: Source) -> dict:
    return {
        **{f: getattr(s, f) for f in (
            "id", "name", "kind", "host", "port", "database", "username", "password_set",
            "options", "query", "table", "columns", "watermark_column", "watermark_value",
            "watermark_type", "statement_timeout_seconds", "row_cap", "columns_cap", "dataset_id",
            "last_pull_at", "last_pull_rows", "last_error", "created_at", "updated_at",
        )},
        "pulling": s.pulling_since is not None,
    }  # fmt: skip


def _problem(exc: SourceError, title: str) -> ApiProblem:
    if hasattr(exc, "error_dict"):
        pairs = [(field, str(m)) for field, ms in exc.message_dict.items() for m in ms]
        errors: list[dict] = [{"loc": ["body", field], "msg": m} for field, m in pairs]
        return ApiProblem(422, "; ".join(m for _f, m in pairs), errors=errors, title=title)
    return ApiProblem(422, str(exc.messages[0]), title=title)


def _source(request: HttpRequest, source_id: int) -> Source:
    return scoped_or_404(Source.objects.all(), request, source_id, "source")


def _manage(request: HttpRequest) -> None:
    api_require(request, MANAGE)


@router.get("", response=SourcePage, summary="Sources, newest first")
def list_sources(
    request: HttpRequest,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
):
    return page(
        Source.objects.for_tenant(request.tenant), limit=limit, cursor=cursor, serialize=source_out
    )


@router.post("", auth=write_auth, response={201: SourceOut}, summary="Register a source (admins)")
def create_source(request: HttpRequest, body: SourceIn):
    _manage(request)
    try:
        source = source_create(
            tenant=request.tenant, user=request.user, data=body.model_dump(), request=request
        )
    except SourceError as exc:
        raise _problem(exc, "Source refused") from None
    return Status(201, source_out(source))


@router.get("/{int:source_id}", response=SourceOut, summary="One source (never its password)")
def get_source(request: HttpRequest, source_id: int):
    return source_out(_source(request, source_id))


@router.patch("/{int:source_id}", auth=write_auth, response=SourceOut, summary="Change a source")
def update_source(request: HttpRequest, source_id: int, body: SourceIn):
    _manage(request)
    source = _source(request, source_id)
    try:
        source = source_update(
            source=source,
            user=request.user,
            data=body.model_dump(exclude_unset=True),
            request=request,
        )
    except SourceError as exc:
        raise _problem(exc, "Source refused") from None
    return source_out(source)


@router.delete("/{int:source_id}", auth=write_auth, response={204: None}, summary="Delete a source")
def delete_source(request: HttpRequest, source_id: int):
    _manage(request)
    source = _source(request, source_id)
    try:
        source_delete(source=source, user=request.user, request=request)
    except SourceInUse as exc:
        raise ApiProblem(409, str(exc.message), title="Source in use") from None
    return Status(204, None)


@router.post(
    "/{int:source_id}/test", auth=write_auth, response=TestOut, summary="Connect and check the read"
)
def test_source(request: HttpRequest, source_id: int):
    _manage(request)
    source = _source(request, source_id)
    try:
        probe = source_test(source=source, user=request.user, request=request)
    except SourceError as exc:
        raise _problem(exc, "Source test failed") from None
    return {"ok": True, "server": probe.server, "columns": probe.columns, "message": probe.message}


@router.post(
    "/{int:source_id}/preview",
    auth=write_auth,
    response=PreviewOut,
    summary="The first rows the source gives (the watermark is not applied)",
)
def preview_source(request: HttpRequest, source_id: int, rows: int = Query(20, ge=1, le=200)):
    _manage(request)
    source = _source(request, source_id)
    try:
        shown = source_preview(source=source, user=request.user, request=request, rows=rows)
    except SourceError as exc:
        raise _problem(exc, "Source preview failed") from None
    return {"server": shown.server, "columns": shown.columns, "rows": shown.rows}


@router.post(
    "/{int:source_id}/pull",
    auth=write_auth,
    response={200: PullOut, 202: PullOut},
    summary="Pull new rows into a dataset version (queued; wait=true pulls in the request)",
)
def pull_source(request: HttpRequest, source_id: int, wait: bool = False):
    _manage(request)
    source = _source(request, source_id)
    if not wait:
        source_pull_later(source=source, user=request.user, request=request)
        return Status(202, {"queued": True, "source": source_out(source)})
    try:
        version = source_pull(source=source, user=request.user, request=request)
    except SourceError as exc:
        raise _problem(exc, "Pull failed") from None
    out = version_out(version) if version else None
    return Status(200, {"queued": False, "source": source_out(source), "version": out})
