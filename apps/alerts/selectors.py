"""Reads for the alert pages and the API: every lookup tenant-scoped, open alerts first."""

from __future__ import annotations

from typing import cast

from django.db.models import Case, IntegerField, QuerySet, Value, When

from apps.tenants.access import get_scoped_or_404

from .models import Alert, AlertQuerySet, AlertRule, Channel, DeliveryAttempt, Notification


def alerts_ordered(qs: QuerySet) -> QuerySet:
    """Open first, then acknowledged, then resolved; newest activity first within each."""
    rank = Case(
        When(state=Alert.State.OPEN, then=Value(0)),
        When(state=Alert.State.ACKNOWLEDGED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return qs.annotate(state_rank=rank).order_by("state_rank", "-last_seen_at", "-id")


def alerts_for(tenant) -> AlertQuerySet:
    qs = Alert.objects.filter(tenant=tenant).select_related("rule", "monitor", "stream", "tenant")
    return cast(AlertQuerySet, qs)


def get_alert_for_member(request, alert_id: int) -> Alert:
    return get_scoped_or_404(request, alerts_for(request.tenant), pk=alert_id)


def get_rule_for_member(request, rule_id: int) -> AlertRule:
    return get_scoped_or_404(
        request,
        AlertRule.objects.select_related("monitor", "stream").prefetch_related("channels"),
        pk=rule_id,
    )


def get_channel_for_member(request, channel_id: int) -> Channel:
    return get_scoped_or_404(request, Channel.objects.all(), pk=channel_id)


def delivery_log(alert: Alert) -> list[DeliveryAttempt]:
    return list(
        DeliveryAttempt.objects.filter(delivery__alert=alert)
        .select_related("delivery__channel", "delivery__trigger__execution")
        .order_by("-started_at", "-id")[:200]
    )


def unread_notifications(user, tenant, limit: int = 20) -> list[Notification]:
    return list(
        Notification.objects.for_tenant(tenant)
        .filter(user=user, read_at__isnull=True)
        .order_by("-created_at", "-id")[:limit]
    )
