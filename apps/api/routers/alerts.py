"""Alerts, their deliveries, the alert rules of a monitor and the workspace's channels.

Reads need any token of the workspace; acknowledging, snoozing, resolving and rules need a
write token of a role that may create; channels need a write token of an admin.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from apps.alerts import selectors, services
from apps.alerts.models import Alert, AlertRule, Channel
from apps.alerts.requests import TenantRequest
from apps.monitors.models import Monitor
from apps.tenants.permissions import MANAGE

from ..auth import api_require, write_auth
from ..errors import ApiProblem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from .common import LIMIT_DESCRIPTION, scoped_or_404

alerts_router = Router(tags=["alerts"])
rules_router = Router(tags=["alerts"])
channels_router = Router(tags=["alerts"])


# ---------------------------------------------------------------- shapes
class AlertOut(Schema):
    id: int
    title: str
    state: str
    rule_id: int
    monitor_id: int
    reasons: list[str]
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    last_notified_at: datetime | None
    snoozed_until: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    url: str


class AlertPage(Schema):
    items: list[AlertOut]
    next_cursor: str | None


class SnoozeIn(Schema):
    until: datetime | None = None
    hours: float | None = Field(None, gt=0, le=24 * 30)


class AttemptOut(Schema):
    delivery_id: int
    channel_id: int
    channel: str
    kind: str
    idempotency_key: str
    delivery_status: str
    number: int
    status: str
    started_at: datetime
    latency_ms: float | None
    response_code: int | None
    error: str


class AttemptList(Schema):
    items: list[AttemptOut]


class RuleIn(Schema):
    name: str = Field(..., max_length=200)
    min_anomalies: int | None = Field(None, ge=1)
    min_severity: float | None = Field(None, ge=0, le=1)
    min_flagged_share: float | None = Field(None, gt=0, le=1)
    on_drift: bool = False
    on_failure: bool = False
    match: Literal["all", "any"] = "any"
    cooldown_seconds: int = Field(3600, ge=0, le=30 * 86400)
    enabled: bool = True
    channel_ids: list[int] = Field(default_factory=list, max_length=50)


class RulePatch(Schema):
    name: str | None = Field(None, max_length=200)
    min_anomalies: int | None = None
    min_severity: float | None = None
    min_flagged_share: float | None = None
    on_drift: bool | None = None
    on_failure: bool | None = None
    match: Literal["all", "any"] | None = None
    cooldown_seconds: int | None = Field(None, ge=0, le=30 * 86400)
    enabled: bool | None = None
    channel_ids: list[int] | None = Field(None, max_length=50)


class RuleOut(Schema):
    id: int
    monitor_id: int
    name: str
    min_anomalies: int | None
    min_severity: float | None
    min_flagged_share: float | None
    on_drift: bool
    on_failure: bool
    match: str
    cooldown_seconds: int
    enabled: bool
    channel_ids: list[int]
    conditions: list[str]
    created_at: datetime


class RulePage(Schema):
    items: list[RuleOut]
    next_cursor: str | None


class ChannelIn(Schema):
    name: str = Field(..., max_length=200)
    kind: Literal["email", "webhook", "inapp"]
    enabled: bool = True
    recipients: list[str] = Field(default_factory=list, max_length=50)
    roles: list[str] = Field(default_factory=list, max_length=4)
    url: str = Field("", max_length=2000)
    format: Literal["json", "slack"] = "json"


class ChannelPatch(Schema):
    name: str | None = Field(None, max_length=200)
    enabled: bool | None = None
    recipients: list[str] | None = Field(None, max_length=50)
    roles: list[str] | None = Field(None, max_length=4)
    url: str | None = Field(None, max_length=2000)
    format: Literal["json", "slack"] | None = None


class ChannelOut(Schema):
    id: int
    name: str
    kind: str
    enabled: bool
    recipients: list[str]
    roles: list[str]
    url: str
    format: str
    created_at: datetime
    # Only in the answer to a create or a rotation of a webhook: never readable again.
    secret: str | None = None


class ChannelPage(Schema):
    items: list[ChannelOut]
    next_cursor: str | None


# ---------------------------------------------------------------- helpers
def _invalid(exc: services.Invalid) -> ApiProblem:
    errors = [{"loc": ["body", field], "msg": msg} for field, msg in exc.errors]
    return ApiProblem(422, exc.errors[0][1], errors=errors, title="Validation failed")


def alert_out(a: Alert) -> dict[str, Any]:
    from apps.alerts.payloads import absolute

    fields = ("id", "title", "state", "rule_id", "monitor_id", "reasons", "occurrences",
              "first_seen_at", "last_seen_at", "last_notified_at", "snoozed_until",
              "acknowledged_at", "resolved_at")  # fmt: skip
    return {f: getattr(a, f) for f in fields} | {"url": absolute(a.url())}


def rule_out(r: AlertRule) -> dict[str, Any]:
    fields = ("id", "monitor_id", "name", "min_anomalies", "min_severity", "min_flagged_share",
              "on_drift", "on_failure", "match", "cooldown_seconds", "enabled", "created_at")  # fmt: skip
    return {f: getattr(r, f) for f in fields} | {
        "channel_ids": sorted(c.pk for c in r.channels.all()),
        "conditions": r.conditions(),
    }


def channel_out(c: Channel, secret: str | None = None) -> dict[str, Any]:
    fields = ("id", "name", "kind", "enabled", "recipients", "roles", "url", "format", "created_at")
    return {f: getattr(c, f) for f in fields} | {"secret": secret}


def _alert(request: TenantRequest, alert_id: int) -> Alert:
    return scoped_or_404(selectors.alerts_for(request.tenant), request, alert_id, "alert")


def _change(request: TenantRequest, alert_id: int, action) -> dict[str, Any]:
    alert = _alert(request, alert_id)
    try:
        return alert_out(action(alert))
    except services.AlertStateError as exc:
        raise ApiProblem(409, str(exc), title="Alert resolved") from None
    except services.Invalid as exc:
        raise _invalid(exc) from None


# ---------------------------------------------------------------- alerts
@alerts_router.get("", response=AlertPage, summary="Alerts, newest first")
def list_alerts(
    request: TenantRequest,
    state: Literal["open", "acknowledged", "resolved", "unresolved"] | None = None,
    monitor_id: int | None = Query(None, ge=1),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
):
    qs = selectors.alerts_for(request.tenant)
    if state == "unresolved":
        qs = qs.unresolved()
    elif state:
        qs = qs.filter(state=state)
    if monitor_id:
        qs = qs.filter(monitor_id=monitor_id)
    return page(qs, limit=limit, cursor=cursor, serialize=alert_out)


@alerts_router.get("/{int:alert_id}", response=AlertOut, summary="One alert")
def get_alert(request: TenantRequest, alert_id: int):
    return alert_out(_alert(request, alert_id))


@alerts_router.post("/{int:alert_id}/acknowledge", auth=write_auth, response=AlertOut,
                    summary="Acknowledge: further matches are counted without notifying")  # fmt: skip
def acknowledge_alert(request: TenantRequest, alert_id: int):
    return _change(
        request,
        alert_id,
        lambda a: services.alert_acknowledge(alert=a, user=request.user, request=request),
    )


@alerts_router.post("/{int:alert_id}/snooze", auth=write_auth, response=AlertOut,
                    summary="Snooze until a time (or for some hours)")  # fmt: skip
def snooze_alert(request: TenantRequest, alert_id: int, body: SnoozeIn):
    if (body.until is None) == (body.hours is None):
        raise ApiProblem(
            422,
            "Give exactly one of until and hours.",
            errors=[{"loc": ["body", "until"], "msg": "give until or hours"}],
        )
    until = body.until or timezone.now() + timedelta(hours=body.hours or 0)
    if timezone.is_naive(until):
        until = until.replace(tzinfo=UTC)
    return _change(
        request,
        alert_id,
        lambda a: services.alert_snooze(alert=a, user=request.user, until=until, request=request),
    )


@alerts_router.post("/{int:alert_id}/resolve", auth=write_auth, response=AlertOut,
                    summary="Resolve: the next match opens a new alert")  # fmt: skip
def resolve_alert(request: TenantRequest, alert_id: int):
    return _change(
        request,
        alert_id,
        lambda a: services.alert_resolve(alert=a, user=request.user, request=request),
    )


@alerts_router.get("/{int:alert_id}/deliveries", response=AttemptList,
                   summary="The delivery log: every attempt to every channel")  # fmt: skip
def alert_deliveries(request: TenantRequest, alert_id: int):
    alert = _alert(request, alert_id)
    items = [
        {
            "delivery_id": a.delivery_id,
            "channel_id": a.delivery.channel_id,
            "channel": a.delivery.channel.name,
            "kind": a.delivery.channel.kind,
            "idempotency_key": str(a.delivery.key),
            "delivery_status": a.delivery.status,
            "number": a.number,
            "status": a.status,
            "started_at": a.started_at,
            "latency_ms": a.latency_ms,
            "response_code": a.response_code,
            "error": a.error,
        }
        for a in selectors.delivery_log(alert)
    ]
    return {"items": items}


# ---------------------------------------------------------------- rules of a monitor
def _monitor(request: TenantRequest, monitor_id: int) -> Monitor:
    return scoped_or_404(Monitor.objects.all(), request, monitor_id, "monitor")


def _rule(request: TenantRequest, monitor: Monitor, rule_id: int) -> AlertRule:
    qs = AlertRule.objects.filter(monitor=monitor).prefetch_related("channels")
    return scoped_or_404(qs, request, rule_id, "alert rule")


@rules_router.get("/{int:monitor_id}/rules", response=RulePage, summary="A monitor's alert rules")
def list_rules(
    request: TenantRequest,
    monitor_id: int,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
):
    monitor = _monitor(request, monitor_id)
    qs = monitor.alert_rules.prefetch_related("channels")
    return page(qs, limit=limit, cursor=cursor, serialize=rule_out)


@rules_router.post("/{int:monitor_id}/rules", auth=write_auth, response={201: RuleOut},
                   summary="Add an alert rule to a monitor")  # fmt: skip
def create_rule(request: TenantRequest, monitor_id: int, body: RuleIn):
    monitor = _monitor(request, monitor_id)
    try:
        rule = services.rule_create(
            monitor=monitor, user=request.user, data=services.RuleData(**body.dict()),
            request=request,
        )  # fmt: skip
    except services.Invalid as exc:
        raise _invalid(exc) from None
    return Status(201, rule_out(rule))


@rules_router.get("/{int:monitor_id}/rules/{int:rule_id}", response=RuleOut, summary="One rule")
def get_rule(request: TenantRequest, monitor_id: int, rule_id: int):
    return rule_out(_rule(request, _monitor(request, monitor_id), rule_id))


@rules_router.patch("/{int:monitor_id}/rules/{int:rule_id}", auth=write_auth, response=RuleOut,
                    summary="Change a rule (fields left out keep their value)")  # fmt: skip
def update_rule(request: TenantRequest, monitor_id: int, rule_id: int, body: RulePatch):
    monitor = _monitor(request, monitor_id)
    rule = _rule(request, monitor, rule_id)
    current = rule_out(rule)
    changes = body.dict(exclude_unset=True)
    data = {k: current[k] for k in services.RULE_FIELDS} | {"channel_ids": current["channel_ids"]}
    try:
        services.rule_update(
            rule=rule, user=request.user, data=services.RuleData(**(data | changes)),
            request=request,
        )  # fmt: skip
    except services.Invalid as exc:
        raise _invalid(exc) from None
    return rule_out(_rule(request, monitor, rule_id))


@rules_router.delete("/{int:monitor_id}/rules/{int:rule_id}", auth=write_auth,
                     response={204: None}, summary="Delete a rule (its alerts go with it)")  # fmt: skip
def delete_rule(request: TenantRequest, monitor_id: int, rule_id: int):
    rule = _rule(request, _monitor(request, monitor_id), rule_id)
    services.rule_delete(rule=rule, user=request.user, request=request)
    return Status(204, None)


# ---------------------------------------------------------------- channels
def _channel(request: TenantRequest, channel_id: int) -> Channel:
    return scoped_or_404(Channel.objects.all(), request, channel_id, "channel")


@channels_router.get("", response=ChannelPage, summary="The workspace's alert channels")
def list_channels(
    request: TenantRequest,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
):
    qs = Channel.objects.for_tenant(request.tenant)
    return page(qs, limit=limit, cursor=cursor, serialize=channel_out)


@channels_router.post("", auth=write_auth, response={201: ChannelOut},
                      summary="Create a channel (admins); a webhook's secret is in this answer only")  # fmt: skip
def create_channel(request: TenantRequest, body: ChannelIn):
    api_require(request, MANAGE)
    try:
        channel, secret = services.channel_create(
            tenant=request.tenant, user=request.user, data=services.ChannelData(**body.dict()),
            request=request,
        )  # fmt: skip
    except services.Invalid as exc:
        raise _invalid(exc) from None
    return Status(201, channel_out(channel, secret))


@channels_router.get("/{int:channel_id}", response=ChannelOut, summary="One channel")
def get_channel(request: TenantRequest, channel_id: int):
    return channel_out(_channel(request, channel_id))


@channels_router.patch("/{int:channel_id}", auth=write_auth, response=ChannelOut,
                       summary="Change a channel (admins); its kind stays")  # fmt: skip
def update_channel(request: TenantRequest, channel_id: int, body: ChannelPatch):
    channel = _channel(request, channel_id)
    api_require(request, MANAGE)
    current = channel_out(channel)
    fields = ("name", "kind", "enabled", "recipients", "roles", "url", "format")
    data = {k: current[k] for k in fields} | body.dict(exclude_unset=True)
    try:
        services.channel_update(
            channel=channel, user=request.user, data=services.ChannelData(**data), request=request
        )
    except services.Invalid as exc:
        raise _invalid(exc) from None
    return channel_out(channel)


@channels_router.post("/{int:channel_id}/rotate-secret", auth=write_auth, response=ChannelOut,
                      summary="A new webhook signing secret (admins), in this answer only")  # fmt: skip
def rotate_channel_secret(request: TenantRequest, channel_id: int):
    channel = _channel(request, channel_id)
    api_require(request, MANAGE)
    try:
        secret = services.channel_rotate_secret(channel=channel, user=request.user, request=request)
    except services.Invalid as exc:
        raise _invalid(exc) from None
    return channel_out(channel, secret)


@channels_router.delete("/{int:channel_id}", auth=write_auth, response={204: None},
                        summary="Delete a channel (admins)")  # fmt: skip
def delete_channel(request: TenantRequest, channel_id: int):
    channel = _channel(request, channel_id)
    api_require(request, MANAGE)
    services.channel_delete(channel=channel, user=request.user, request=request)
    return Status(204, None)
