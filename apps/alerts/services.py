"""The verbs of alerting: channels and rules (configured by people), alerts (raised by
executions, handled by people). Deliveries are in ``deliveries``."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.common import secrets as secret_box
from apps.monitors.models import Monitor, MonitorExecution
from apps.streams.models import Stream
from apps.tenants.models import Role, Tenant

from . import deliveries
from .models import Alert, AlertRule, AlertTrigger, Channel, Delivery, Match, Notification
from .transports import check_url

if TYPE_CHECKING:  # monitors sit below streams: no import of the streams app at run time
    from apps.streams.models import Stream

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 50
MAX_SNOOZE_DAYS = 30


class Invalid(Exception):
    """Bad input, with (field, message) pairs for forms and the API."""

    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__(errors[0][1])
        self.errors = errors


class AlertStateError(Exception):
    """The alert is not in a state that allows this (resolved alerts stay resolved)."""


# ---------------------------------------------------------------- channels
@dataclass
class ChannelData:
    name: str
    kind: str
    enabled: bool = True
    recipients: list[str] | None = None
    roles: list[str] | None = None
    url: str = ""
    format: str = Channel.Format.JSON


def _channel_clean(tenant: Tenant, data: ChannelData, channel: Channel | None) -> ChannelData:
    errors: list[tuple[str, str]] = []
    data.name = (data.name or "").strip()
    if not data.name:
        errors.append(("name", "A channel needs a name."))
    elif (
        Channel.objects.for_tenant(tenant)
        .filter(name=data.name)
        .exclude(pk=channel.pk if channel else 0)
        .exists()
    ):
        errors.append(("name", f"A channel named “{data.name}” exists already."))
    if data.kind not in Channel.Kind.values:
        errors.append(("kind", f"Choose one of {', '.join(Channel.Kind.values)}."))
    data.recipients = [r.strip() for r in data.recipients or [] if r.strip()]
    data.roles = [r for r in data.roles or [] if r]
    if data.kind == Channel.Kind.EMAIL:
        for address in data.recipients:
            try:
                validate_email(address)
            except ValidationError:
                errors.append(("recipients", f"“{address[:100]}” is not an e-mail address."))
        if len(data.recipients) > MAX_RECIPIENTS:
            errors.append(("recipients", f"At most {MAX_RECIPIENTS} addresses."))
        bad_roles = [r for r in data.roles if r not in Role.values]
        if bad_roles:
            errors.append(("roles", f"Unknown role(s): {', '.join(bad_roles)}."))
        if not data.recipients and not data.roles:
            errors.append(("recipients", "Give at least one address or one role."))
    else:
        data.recipients, data.roles = [], []
    if data.kind == Channel.Kind.WEBHOOK:
        data.url = (data.url or "").strip()
        why = check_url(data.url) if data.url else "A webhook needs a URL."
        if why:
            errors.append(("url", why))
        if data.format not in Channel.Format.values:
            errors.append(("format", "Choose json or slack."))
    else:
        data.url, data.format = "", Channel.Format.JSON
    if errors:
        raise Invalid(errors)
    return data


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _channel_details(channel: Channel) -> dict[str, Any]:
    return {
        "name": channel.name,
        "kind": channel.kind,
        "enabled": channel.enabled,
        "target": channel.target()[:300],
        "format": channel.format,
    }


@transaction.atomic
def channel_create(*, tenant: Tenant, user, data: ChannelData, request=None):
    """A new channel; for a webhook also its signing secret, returned this once only."""
    data = _channel_clean(tenant, data, None)
    secret = _new_secret() if data.kind == Channel.Kind.WEBHOOK else None
    try:
        with transaction.atomic():
            channel = Channel.objects.create(
                tenant=tenant,
                name=data.name,
                kind=data.kind,
                enabled=data.enabled,
                recipients=data.recipients,
                roles=data.roles,
                url=data.url,
                format=data.format,
                secret_encrypted=secret_box.encrypt(secret) if secret else "",
                created_by=user,
            )
    except IntegrityError:
        raise Invalid([("name", f"A channel named “{data.name}” exists already.")]) from None
    audit_record(
        action="alert_channel.created",
        actor=user,
        tenant=tenant,
        target=channel,
        request=request,
        details=_channel_details(channel),
    )
    return channel, secret


@transaction.atomic
def channel_update(*, channel: Channel, user, data: ChannelData, request=None) -> Channel:
    data.kind = channel.kind  # a channel's kind is fixed: make another channel instead
    data = _channel_clean(channel.tenant, data, channel)
    before = _channel_details(channel)
    for field in ("name", "enabled", "recipients", "roles", "url", "format"):
        setattr(channel, field, getattr(data, field))
    channel.save()
    after = _channel_details(channel)
    audit_record(
        action="alert_channel.updated",
        actor=user,
        tenant=channel.tenant,
        target=channel,
        request=request,
        details={k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]},
    )
    return channel


@transaction.atomic
def channel_rotate_secret(*, channel: Channel, user, request=None) -> str:
    if channel.kind != Channel.Kind.WEBHOOK:
        raise Invalid([("kind", "Only webhooks have a signing secret.")])
    secret = _new_secret()
    channel.secret_encrypted = secret_box.encrypt(secret)
    channel.save(update_fields=["secret_encrypted", "updated_at"])
    audit_record(
        action="alert_channel.secret_rotated",
        actor=user,
        tenant=channel.tenant,
        target=channel,
        request=request,
    )
    return secret


@transaction.atomic
def channel_delete(*, channel: Channel, user, request=None) -> None:
    audit_record(
        action="alert_channel.deleted",
        actor=user,
        tenant=channel.tenant,
        target=channel,
        request=request,
        details=_channel_details(channel),
    )
    channel.delete()


# ---------------------------------------------------------------- rules
@dataclass
class RuleData:
    name: str
    min_anomalies: int | None = None
    min_severity: float | None = None
    min_flagged_share: float | None = None
    on_drift: bool = False
    on_failure: bool = False
    match: str = Match.ANY
    cooldown_seconds: int = 3600
    enabled: bool = True
    channel_ids: list[int] | None = None


RULE_FIELDS = (
    "name", "min_anomalies", "min_severity", "min_flagged_share", "on_drift", "on_failure",
    "match", "cooldown_seconds", "enabled",
)  # fmt: skip


def rule_owner(rule: AlertRule) -> Monitor | Stream:
    """What the rule watches: its monitor or its stream (exactly one is set)."""
    owner = rule.monitor if rule.monitor_id is not None else rule.stream
    assert owner is not None  # the rule_watches_monitor_or_stream constraint
    return owner


def _rule_clean(owner: Monitor | Stream, data: RuleData, rule: AlertRule | None) -> list[Channel]:
    errors: list[tuple[str, str]] = []
    data.name = (data.name or "").strip()
    what = "stream" if isinstance(owner, Stream) else "monitor"
    if not data.name:
        errors.append(("name", "A rule needs a name."))
    elif owner.alert_rules.filter(name=data.name).exclude(pk=rule.pk if rule else 0).exists():
        errors.append(("name", f"This {what} has a rule named “{data.name}” already."))
    if what == "stream" and data.on_failure:
        errors.append(
            ("on_failure", "A stream has no executions to fail: choose another condition.")
        )
    if data.min_anomalies is not None and data.min_anomalies < 1:
        errors.append(("min_anomalies", "Give at least 1 (or leave it empty)."))
    if data.min_severity is not None and not 0 <= data.min_severity <= 1:
        errors.append(("min_severity", "Severity is between 0 and 1."))
    if data.min_flagged_share is not None and not 0 < data.min_flagged_share <= 1:
        errors.append(("min_flagged_share", "A share is above 0 and at most 1 (e.g. 0.05)."))
    if data.match not in Match.values:
        errors.append(("match", "Choose all or any."))
    if data.cooldown_seconds is None or not 0 <= data.cooldown_seconds <= 30 * 86400:
        errors.append(("cooldown_seconds", "Between 0 s and 30 days."))
    conditions = [
        data.min_anomalies is not None,
        data.min_severity is not None,
        data.min_flagged_share is not None,
        data.on_drift,
        data.on_failure,
    ]
    if not any(conditions):
        errors.append(("min_anomalies", "Give at least one condition."))
    ids = list(dict.fromkeys(data.channel_ids or []))
    channels = list(Channel.objects.for_tenant(owner.tenant).filter(pk__in=ids))
    if len(channels) != len(ids):
        missing = sorted(set(ids) - {c.pk for c in channels})
        errors.append(
            ("channel_ids", f"No channel {', '.join(map(str, missing))} in this workspace.")
        )
    if errors:
        raise Invalid(errors)
    return channels


def _rule_details(rule: AlertRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "monitor": rule.monitor_id,
        "stream": rule.stream_id,
        "conditions": rule.conditions(),
        "match": rule.match,
        "cooldown_seconds": rule.cooldown_seconds,
        "enabled": rule.enabled,
        "channels": sorted(c.pk for c in rule.channels.all()),
    }


@transaction.atomic
def rule_create(
    *,
    monitor: Monitor | None = None,
    stream: Stream | None = None,
    user,
    data: RuleData,
    request=None,
) -> AlertRule:
    """A rule on a monitor's executions or on a stream's windows (give exactly one of them)."""
    owner = monitor if monitor is not None else stream
    if owner is None or (monitor is not None and stream is not None):
        raise ValueError("rule_create takes a monitor or a stream")
    channels = _rule_clean(owner, data, None)
    rule = AlertRule.objects.create(
        tenant=owner.tenant,
        monitor=monitor,
        stream=stream,
        created_by=user,
        **{f: getattr(data, f) for f in RULE_FIELDS},
    )
    rule.channels.set(channels)
    audit_record(
        action="alert_rule.created",
        actor=user,
        tenant=owner.tenant,
        target=rule,
        request=request,
        details=_rule_details(rule),
    )
    return rule


@transaction.atomic
def rule_update(*, rule: AlertRule, user, data: RuleData, request=None) -> AlertRule:
    channels = _rule_clean(rule_owner(rule), data, rule)
    before = _rule_details(rule)
    for f in RULE_FIELDS:
        setattr(rule, f, getattr(data, f))
    rule.save()
    rule.channels.set(channels)
    after = _rule_details(rule)
    audit_record(
        action="alert_rule.updated",
        actor=user,
        tenant=rule.tenant,
        target=rule,
        request=request,
        details={k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]},
    )
    return rule


@transaction.atomic
def rule_delete(*, rule: AlertRule, user, request=None) -> None:
    audit_record(
        action="alert_rule.deleted",
        actor=user,
        tenant=rule.tenant,
        target=rule,
        request=request,
        details=_rule_details(rule),
    )
    rule.delete()


def rule_reasons(rule: AlertRule, execution: MonitorExecution) -> list[str] | None:
    """Why ``execution`` matches ``rule`` (one phrase per met condition), or None."""
    failed = execution.status == MonitorExecution.Status.FAILED
    checks: list[tuple[bool, str]] = []
    if rule.min_anomalies is not None:
        checks.append(
            (
                not failed and execution.anomalies >= rule.min_anomalies,
                f"{execution.anomalies:,} anomalies (≥ {rule.min_anomalies:,})",
            )
        )
    if rule.min_severity is not None:
        sev = execution.max_severity
        checks.append(
            (
                not failed and sev is not None and sev >= rule.min_severity,
                f"max severity {sev or 0:.3g} (≥ {rule.min_severity:g})",
            )
        )
    if rule.min_flagged_share is not None:
        share = execution.flagged_share
        checks.append(
            (
                not failed and share is not None and share >= rule.min_flagged_share,
                f"{share or 0:.2%} of rows flagged (≥ {rule.min_flagged_share:.2%})",
            )
        )
    if rule.on_drift:
        features = [
            n for n, v in (execution.drift or {}).get("features", {}).items() if v.get("drifted")
        ]
        checks.append(
            (
                execution.drift_detected,
                "drift detected" + (f" in {', '.join(sorted(features)[:10])}" if features else ""),
            )
        )
    if rule.on_failure:
        checks.append((failed, f"execution failed: {execution.error[:200]}".rstrip(": ")))
    if not checks:
        return None
    met = [text for ok, text in checks if ok]
    matched = len(met) == len(checks) if rule.match == Match.ALL else bool(met)
    return met if matched else None


# ---------------------------------------------------------------- alerts raised by executions
def alerts_for_execution(*, execution: MonitorExecution) -> list[AlertTrigger]:
    """Evaluate every enabled rule of the execution's monitor; one trigger per matching rule.

    Idempotent: the (rule, execution) constraint makes a second call (a re-sent signal) a
    no-op. A match joins the rule's unresolved alert (counted as an occurrence) or opens a
    new one; it is sent to the rule's channels unless the alert is acknowledged, snoozed or
    in its cool-down since the last notification.
    """
    if execution.status not in (MonitorExecution.Status.SUCCEEDED, MonitorExecution.Status.FAILED):
        return []
    rules = AlertRule.objects.filter(monitor_id=execution.monitor_id, enabled=True).order_by("pk")
    triggers: list[AlertTrigger] = []
    # One transaction for all rules (each trigger in its own savepoint): one commit, then the
    # deliveries are enqueued fastest channel first (in-app, webhook, e-mail).
    with transaction.atomic():
        for rule in rules:
            try:
                reasons = rule_reasons(rule, execution)
                trigger = (
                    _trigger(rule, reasons, execution=execution) if reasons is not None else None
                )
            except (
                Exception
            ):  # one broken rule must not silence the others (its savepoint rolled back)
                logger.exception("alert rule %s on execution %s failed", rule.pk, execution.pk)
                continue
            if trigger is not None:
                triggers.append(trigger)
        _deliver(triggers)
    return triggers


def _deliver(triggers: list[AlertTrigger]) -> None:
    notify = [(t, c) for t in triggers if t.notified for c in t.rule.channels.all() if c.enabled]
    notify.sort(key=lambda tc: _CHANNEL_ORDER.get(tc[1].kind, 9))
    for trigger, channel in notify:
        deliveries.delivery_create_all(trigger=trigger, channels=[channel])


_CHANNEL_ORDER: dict[str, int] = {"inapp": 0, "webhook": 1, "email": 2}


def _trigger(
    rule: AlertRule,
    reasons: list[str],
    *,
    execution: MonitorExecution | None = None,
    stream_window: datetime | None = None,
):
    now = timezone.now()
    matched = (
        {"execution": execution} if execution is not None else {"stream_window": stream_window}
    )
    try:
        with transaction.atomic():
            # Lock the rule: two executions finishing together group into one alert.
            AlertRule.objects.select_for_update(of=("self",)).filter(pk=rule.pk).order_by(
                "pk"
            ).first()
            if AlertTrigger.objects.filter(rule=rule, **matched).exists():
                return None
            alert = rule.alerts.unresolved().order_by("-pk").first()
            if alert is None:
                alert = Alert.objects.create(
                    tenant=rule.tenant,
                    rule=rule,
                    monitor_id=rule.monitor_id,
                    stream_id=rule.stream_id,
                    title=f"{rule.name}: {reasons[0]}"[:300],
                    reasons=reasons,
                    first_seen_at=now,
                    last_seen_at=now,
                )
                notify = True
                audit_record(
                    action="alert.raised",
                    tenant=rule.tenant,
                    target=alert,
                    actor_repr="monitor" if execution is not None else "stream",
                    details={
                        "rule": rule.pk,
                        **(
                            {"execution": execution.pk}
                            if execution is not None
                            else {
                                "stream_window": stream_window.isoformat()
                                if stream_window
                                else None
                            }
                        ),
                        "reasons": reasons,
                    },
                )
            else:
                alert.occurrences += 1
                alert.last_seen_at = now
                alert.reasons = reasons
                cooled = (
                    alert.last_notified_at is None
                    or (now - alert.last_notified_at).total_seconds() >= rule.cooldown_seconds
                )
                notify = alert.state == Alert.State.OPEN and not alert.is_snoozed(now) and cooled
            if notify:
                alert.last_notified_at = now
            alert.save()
            trigger = AlertTrigger.objects.create(
                tenant=rule.tenant,
                alert=alert,
                rule=rule,
                reasons=reasons,
                notified=notify,
                **matched,
            )
    except IntegrityError:  # a concurrent evaluation of the same (rule, execution) won
        return None
    return trigger


# ---------------------------------------------------------------- alerts raised by streams
def stream_rule_reasons(rule: AlertRule, figures: dict[str, Any]) -> list[str] | None:
    """Why a stream's closed window (``figures``) matches ``rule``, or None.

    ``figures``: records, anomalies, max_severity (as a run's severity), flagged_share,
    drifted (columns whose ADWIN raised an alarm in the window), window_seconds.
    """
    anomalies = int(figures.get("anomalies") or 0)
    checks: list[tuple[bool, str]] = []
    if rule.min_anomalies is not None:
        checks.append(
            (
                anomalies >= rule.min_anomalies,
                f"{anomalies:,} anomalies in {figures.get('window_seconds', 60)} s "
                f"(≥ {rule.min_anomalies:,})",
            )
        )
    if rule.min_severity is not None:
        sev = figures.get("max_severity")
        checks.append(
            (
                sev is not None and sev >= rule.min_severity,
                f"max severity {sev or 0:.3g} (≥ {rule.min_severity:g})",
            )
        )
    if rule.min_flagged_share is not None:
        share = figures.get("flagged_share")
        checks.append(
            (
                share is not None and share >= rule.min_flagged_share,
                f"{share or 0:.2%} of records flagged (≥ {rule.min_flagged_share:.2%})",
            )
        )
    if rule.on_drift:
        drifted = list(figures.get("drifted") or [])
        checks.append((bool(drifted), "drift detected in " + ", ".join(drifted[:10])))
    if not checks:
        return None
    met = [text for ok, text in checks if ok]
    matched = len(met) == len(checks) if rule.match == Match.ALL else bool(met)
    return met if matched else None


def alerts_for_stream_window(
    *, stream: Stream, window_start: datetime, figures: dict[str, Any]
) -> list[AlertTrigger]:
    """Evaluate every enabled rule of ``stream`` on its closed window starting ``window_start``.

    The flow of :func:`alerts_for_execution`: idempotent per (rule, window) — several
    processors of one stream, or a restarted one, evaluating the same window add nothing —
    a match joins the rule's unresolved alert or opens one, and is sent to the channels
    unless acknowledged, snoozed or cooling down.
    """
    rules = AlertRule.objects.filter(stream=stream, enabled=True).order_by("pk")
    triggers: list[AlertTrigger] = []
    with transaction.atomic():
        for rule in rules:
            try:
                reasons = stream_rule_reasons(rule, figures)
                trigger = (
                    _trigger(rule, reasons, stream_window=window_start)
                    if reasons is not None
                    else None
                )
            except Exception:  # one broken rule must not silence the others
                logger.exception("alert rule %s on stream %s failed", rule.pk, stream.pk)
                continue
            if trigger is not None:
                triggers.append(trigger)
        _deliver(triggers)
    return triggers


# ---------------------------------------------------------------- alerts handled by people
def _audit_state(alert: Alert, action: str, user, request, **details) -> None:
    audit_record(
        action=action,
        actor=user,
        tenant=alert.tenant,
        target=alert,
        request=request,
        details={"title": alert.title[:200], **details},
    )


@transaction.atomic
def alert_acknowledge(*, alert: Alert, user, request=None) -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.state == Alert.State.RESOLVED:
        raise AlertStateError("This alert is resolved already.")
    if alert.state == Alert.State.ACKNOWLEDGED:
        return alert
    alert.state = Alert.State.ACKNOWLEDGED
    alert.acknowledged_at, alert.acknowledged_by = timezone.now(), user
    alert.save()
    _audit_state(alert, "alert.acknowledged", user, request)
    return alert


@transaction.atomic
def alert_snooze(*, alert: Alert, user, until: datetime, request=None) -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    now = timezone.now()
    if alert.state == Alert.State.RESOLVED:
        raise AlertStateError("This alert is resolved already.")
    if until <= now:
        raise Invalid([("until", "Snooze until a time in the future.")])
    if (until - now).days >= MAX_SNOOZE_DAYS:
        raise Invalid([("until", f"Snooze for less than {MAX_SNOOZE_DAYS} days.")])
    alert.snoozed_until = until
    alert.save()
    _audit_state(alert, "alert.snoozed", user, request, until=until.isoformat())
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, user, request=None) -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.state == Alert.State.RESOLVED:
        raise AlertStateError("This alert is resolved already.")
    alert.state = Alert.State.RESOLVED
    alert.resolved_at, alert.resolved_by = timezone.now(), user
    alert.snoozed_until = None
    alert.save()
    _audit_state(alert, "alert.resolved", user, request)
    return alert


def notifications_mark_read(*, user, tenant: Tenant, ids: list[int] | None = None) -> int:
    """Mark the user's notices read (all unread ones when ``ids`` is None); how many changed."""
    qs = Notification.objects.for_tenant(tenant).filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


__all__ = [
    "AlertStateError", "ChannelData", "Delivery", "Invalid", "RuleData", "alert_acknowledge",
    "alert_resolve", "alert_snooze", "alerts_for_execution", "alerts_for_stream_window",
    "channel_create", "channel_delete",
    "channel_rotate_secret", "channel_update", "notifications_mark_read", "rule_create",
    "rule_delete", "rule_reasons", "rule_update", "stream_rule_reasons",
]  # fmt: skip
