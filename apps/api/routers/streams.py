"""Streams: CRUD, pause/resume for admins; anomalies (tail with ``since``), dead letters, stats; HTTP push.

``POST /streams/{id}/events`` is authenticated by the stream's own push token (``pys_…``), not by
a user's API token: a device that pushes records holds no account. Its body is limited before
it is read (``STREAM_PUSH_MAX_BYTES``; the ASGI wrapper refuses a larger ``Content-Length``
at once), and it has a rate limit of its own per stream (``API_RATE_PUSH``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from apps.alerts.requests import TenantRequest
from apps.audit.services import client_ip
from apps.streams import push
from apps.streams.config import address
from apps.streams.models import DeadLetter, Stream, StreamAnomaly, StreamScoreBucket
from apps.streams.selectors import anomaly_out, stats, threshold_of
from apps.streams.services import (
    StreamError,
    stream_create,
    stream_delete,
    stream_for_push_token,
    stream_pause,
    stream_resume,
    stream_rotate_token,
    stream_update,
)
from apps.tenants.permissions import MANAGE

from .. import throttling
from ..auth import api_require, write_auth
from ..errors import ApiProblem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from .common import LIMIT_DESCRIPTION, MAX_ID, scoped_or_404

router = Router(tags=["streams"])
NDJSON = "application/x-ndjson"


class StreamIn(Schema):
    """Every field optional on PATCH; on create name, kind, the kind's config and a model or columns."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    kind: str | None = Field(None, description="redis, kafka, mqtt, nats or http")
    config: dict[str, Any] | None = Field(
        None,
        description="redis {url, key, group}; kafka {bootstrap_servers, topic, group, "
        "security_protocol, sasl_mechanism, username}; mqtt {host, port, topic, qos, username, "
        "tls}; nats {servers, stream, subject, durable}; http: none. On PATCH, the keys given.",
    )
    password: str | None = Field(
        None, max_length=1000, description="broker password, write-only; omitted keeps it"
    )
    clear_password: bool = False
    learner: str | None = Field(None, description="model (a trained model) or hst (online)")
    model_id: int | None = None
    columns: list[str] | None = Field(None, description="online learner: the feature columns")
    learner_params: dict[str, int] | None = None
    threshold: float | None = None
    id_field: str | None = Field(None, max_length=200)
    time_field: str | None = Field(None, max_length=200)
    batch_size: int | None = None


class StreamOut(Schema):
    id: int
    name: str
    kind: str
    address: str
    config: dict[str, Any]
    password_set: bool
    learner: str
    model_id: int | None
    columns: list[str]
    learner_params: dict[str, Any]
    threshold: float | None
    effective_threshold: float | None
    id_field: str
    time_field: str
    batch_size: int
    status: str
    stats: dict[str, Any]
    push_token: str | None = Field(
        None, description="HTTP push: the token, in the answer that creates or rotates it only"
    )
    created_at: datetime
    updated_at: datetime


class StreamPage(Schema):
    items: list[StreamOut]
    next_cursor: str | None = None


class AnomalyOut(Schema):
    id: int
    event_id: str
    event_time: datetime
    score: float
    severity: float
    reasons: list[dict[str, Any]]
    record: dict[str, Any]


class AnomalyPage(Schema):
    items: list[AnomalyOut]
    next_since: int = Field(description="pass as since to get what came after (tailing)")
    next_before: int | None = Field(None, description="pass as before for the older page")


class DeadLetterOut(Schema):
    id: int
    event_id: str
    reason: str
    payload: str
    received_at: datetime


class DeadLetterPage(Schema):
    items: list[DeadLetterOut]
    next_before: int | None = None


class StatsOut(Schema):
    stats: dict[str, Any]
    threshold: float | None
    buckets: list[dict[str, Any]]


class PushOut(Schema):
    accepted: int


def stream_out(s: Stream, push_token: str | None = None) -> dict[str, Any]:
    return {
        **{f: getattr(s, f) for f in (
            "id", "name", "kind", "config", "learner", "model_id", "columns", "learner_params",
            "threshold", "id_field", "time_field", "batch_size", "status", "created_at",
            "updated_at",
        )},
        "address": address(s),
        "password_set": bool(s.secret_encrypted),
        "effective_threshold": threshold_of(s),
        "stats": stats(s),
        "push_token": push_token,
    }  # fmt: skip


def _problem(exc: StreamError) -> ApiProblem:
    pairs = [(field, str(m)) for field, ms in exc.message_dict.items() for m in ms]
    errors = [{"loc": ["body", *field.split(".")], "msg": m} for field, m in pairs]
    detail = "; ".join(f"{field}: {m}" for field, m in pairs)  # the CLI prints only this
    return ApiProblem(422, detail, errors=errors, title="Stream refused")


def _stream(request: HttpRequest, stream_id: int) -> Stream:
    return scoped_or_404(Stream.objects.select_related("model"), request, stream_id, "stream")


def _data(body: StreamIn, *, partial: bool) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=partial)
    if "model_id" in data:
        data["model"] = data.pop("model_id")
    return data


@router.get("", response=StreamPage, summary="Streams, newest first")
def list_streams(
    request: TenantRequest,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
):
    qs = Stream.objects.for_tenant(request.tenant).select_related("model")
    return page(qs, limit=limit, cursor=cursor, serialize=stream_out)


@router.post("", auth=write_auth, response={201: StreamOut}, summary="Create a stream (admins)")
def create_stream(request: TenantRequest, body: StreamIn):
    api_require(request, MANAGE)
    try:
        stream, token = stream_create(
            tenant=request.tenant, user=request.user, data=_data(body, partial=False),
            request=request,
        )  # fmt: skip
    except StreamError as exc:
        raise _problem(exc) from None
    return Status(201, stream_out(stream, token))


@router.get("/{int:stream_id}", response=StreamOut, summary="One stream (never its secrets)")
def get_stream(request: HttpRequest, stream_id: int):
    return stream_out(_stream(request, stream_id))


@router.patch("/{int:stream_id}", auth=write_auth, response=StreamOut, summary="Change a stream")
def update_stream(request: HttpRequest, stream_id: int, body: StreamIn):
    api_require(request, MANAGE)
    stream = _stream(request, stream_id)
    try:
        stream = stream_update(
            stream=stream, user=request.user, data=_data(body, partial=True), request=request
        )
    except StreamError as exc:
        raise _problem(exc) from None
    return stream_out(stream)


@router.delete("/{int:stream_id}", auth=write_auth, response={204: None}, summary="Delete a stream")
def delete_stream(request: HttpRequest, stream_id: int):
    api_require(request, MANAGE)
    stream_delete(stream=_stream(request, stream_id), user=request.user, request=request)
    return Status(204, None)


@router.post("/{int:stream_id}/pause", auth=write_auth, response=StreamOut, summary="Pause")
def pause_stream(request: HttpRequest, stream_id: int):
    api_require(request, MANAGE)
    stream = stream_pause(stream=_stream(request, stream_id), user=request.user, request=request)
    return stream_out(stream)


@router.post("/{int:stream_id}/resume", auth=write_auth, response=StreamOut, summary="Resume")
def resume_stream(request: HttpRequest, stream_id: int):
    api_require(request, MANAGE)
    stream = stream_resume(stream=_stream(request, stream_id), user=request.user, request=request)
    return stream_out(stream)


@router.post(
    "/{int:stream_id}/push-token",
    auth=write_auth,
    response=StreamOut,
    summary="A new push token for an HTTP push stream (the old one stops working)",
)
def rotate_push_token(request: HttpRequest, stream_id: int):
    api_require(request, MANAGE)
    stream = _stream(request, stream_id)
    try:
        token = stream_rotate_token(stream=stream, user=request.user, request=request)
    except StreamError as exc:
        raise _problem(exc) from None
    return stream_out(stream, token)


@router.get(
    "/{int:stream_id}/anomalies",
    response=AnomalyPage,
    summary="Anomalies: the newest page, the older one (before) or what came after an id (since)",
)
def stream_anomalies(
    request: TenantRequest,
    stream_id: int,
    since: int | None = Query(
        None, ge=0, lt=MAX_ID, description="ids after this one, oldest first"
    ),
    before: int | None = Query(None, ge=1, lt=MAX_ID, description="ids before this one"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
):
    stream = _stream(request, stream_id)
    qs = StreamAnomaly.objects.filter(tenant=request.tenant, stream=stream)
    if since is not None and before is not None:
        raise ApiProblem(400, "Give since or before, not both.")
    if since is not None:
        rows = list(qs.filter(id__gt=since).order_by("id")[:limit])
    else:
        if before is not None:
            qs = qs.filter(id__lt=before)
        rows = list(qs.order_by("-id")[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit][::-1]
    items = [{**anomaly_out(a), "event_time": a.event_time, "record": a.record} for a in rows]
    last = rows[-1].pk if rows else (since or 0)
    if since is None and not rows:
        last = qs.order_by("-id").values_list("id", flat=True).first() or 0
    older = rows[0].pk if rows and since is None and more else None
    return {"items": items, "next_since": last, "next_before": older}


@router.get("/{int:stream_id}/dead-letters", response=DeadLetterPage, summary="Dead letters")
def stream_dead_letters(
    request: TenantRequest,
    stream_id: int,
    before: int | None = Query(None, ge=1, lt=MAX_ID),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
):
    stream = _stream(request, stream_id)
    qs = DeadLetter.objects.filter(tenant=request.tenant, stream=stream)
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = list(qs.order_by("-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    fields = ("id", "event_id", "reason", "payload", "received_at")
    items = [{f: getattr(d, f) for f in fields} for d in rows]
    return {"items": items, "next_before": rows[-1].pk if more else None}


@router.get("/{int:stream_id}/stats", response=StatsOut, summary="Figures and per-second history")
def stream_stats(request: TenantRequest, stream_id: int, seconds: int = Query(60, ge=1, le=3600)):
    stream = _stream(request, stream_id)
    since = (stream.last_record_at or timezone.now()) - timedelta(seconds=seconds)
    buckets = StreamScoreBucket.objects.filter(
        tenant=request.tenant, stream=stream, start__gte=since
    ).order_by("start")
    rows = [
        {
            "start": b.start,
            "records": b.records,
            "flagged": b.flagged,
            "score_min": b.score_min,
            "score_max": b.score_max,
            "score_mean": b.score_sum / b.records if b.records else None,
        }
        for b in buckets[:3601]
    ]
    return {"stats": stats(stream), "threshold": threshold_of(stream), "buckets": rows}


# ---------------------------------------------------------------- HTTP push
def _push_stream(request: HttpRequest, stream_id: int) -> Stream:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    stream = stream_for_push_token(raw.strip()) if scheme.lower() == "bearer" else None
    if stream is None or stream.pk != stream_id:
        try:  # guessing push tokens is what the anonymous limit is for
            throttling.hit("anon", client_ip(request) or "unknown", "API_RATE_ANON")
        except throttling.RateLimited as exc:
            raise _limited(exc) from None
        raise ApiProblem(
            401,
            "A valid push token of this stream is required: send `Authorization: Bearer pys_…` "
            "(shown once when the HTTP push stream was created or its token rotated).",
            headers={"WWW-Authenticate": 'Bearer realm="pynomaly-push"'},
        )
    return stream


def _limited(exc: throttling.RateLimited) -> ApiProblem:
    return ApiProblem(
        429,
        f"Too many pushes; try again in {exc.retry_after} s.",
        headers={"Retry-After": str(exc.retry_after)},
    )


def _too_large(detail: str) -> ApiProblem:
    return ApiProblem(413, detail, title="Request too large", headers={"Connection": "close"})


_PUSH_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"type": "object"}},
                "example": [{"temperature": 21.5, "pressure": 1.01}],
            },
            NDJSON: {"schema": {"type": "string"}, "example": '{"temperature": 21.5}\n'},
        },
    },
    "responses": {
        "400": {"description": "Not JSON (the line or position is named)"},
        "401": {"description": "No valid push token of this stream"},
        "413": {"description": "Over STREAM_PUSH_MAX_BYTES or STREAM_PUSH_MAX_RECORDS"},
        "415": {"description": "Neither application/json nor application/x-ndjson"},
        "422": {"description": "JSON, but not records (objects)"},
        "429": {"description": "Over API_RATE_PUSH for this stream"},
        "503": {"description": "The stream's backlog is full (its processor is behind)"},
    },
}


@router.post(
    "/{int:stream_id}/events",
    auth=None,
    response={202: PushOut},
    summary="Push records to an HTTP push stream (push token; JSON array or NDJSON)",
    description="Authenticate with `Authorization: Bearer pys_…`, the stream's push token. "
    "Records are queued for the stream's processor and scored asynchronously; 202 says how "
    "many were accepted. Nothing is queued from a body with any bad record.",
    openapi_extra=_PUSH_DOC,
)
def push_events(request: HttpRequest, stream_id: int):
    stream = _push_stream(request, stream_id)
    try:
        throttling.hit("push", str(stream.pk), "API_RATE_PUSH")
    except throttling.RateLimited as exc:
        raise _limited(exc) from None
    limit = settings.STREAM_PUSH_MAX_BYTES
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:  # checked before a byte of the body is read
        raise _too_large(f"The body is over the push limit of {limit:,} bytes.")
    kind = (request.content_type or "").split(";", 1)[0].strip().lower()
    if kind not in ("application/json", NDJSON):
        raise ApiProblem(415, "Send Content-Type application/json or application/x-ndjson.")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise _too_large(f"The body is over the push limit of {limit:,} bytes.")
    try:
        payloads = push.parse_records(
            body, ndjson=kind == NDJSON, max_records=settings.STREAM_PUSH_MAX_RECORDS
        )
    except push.TooMany as exc:
        raise _too_large(
            f"{exc.count:,} records; at most {settings.STREAM_PUSH_MAX_RECORDS:,} per request."
        ) from None
    except push.BadBody as exc:
        raise ApiProblem(
            exc.status, exc.detail, errors=[{"loc": exc.loc, "msg": exc.detail}]
        ) from None
    if not payloads:
        raise ApiProblem(
            422, "The body holds no record.", errors=[{"loc": ["body"], "msg": "empty"}]
        )
    try:
        accepted = push.produce(stream.pk, payloads)
    except push.Backlogged as exc:
        raise ApiProblem(
            503,
            f"{exc.waiting:,} records wait to be scored on this stream; try again later.",
            headers={"Retry-After": "5"},
        ) from None
    return Status(202, {"accepted": accepted})
