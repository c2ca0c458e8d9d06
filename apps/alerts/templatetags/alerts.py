"""``{% alerts_dashboard %}``: the open alerts and the member's unread notices on the dashboard."""

from __future__ import annotations

from django import template

from ..selectors import alerts_for, unread_notifications

register = template.Library()


@register.inclusion_tag("alerts/_dashboard.html", takes_context=True)
def alerts_dashboard(context, limit: int = 10) -> dict:
    request = context["request"]
    tenant = context["current_tenant"]
    open_alerts = alerts_for(tenant).filter(state="open").order_by("-last_seen_at", "-id")
    return {
        "tenant": tenant,
        "open_alerts": list(open_alerts[:limit]),
        "open_count": open_alerts.count(),
        "unread": unread_notifications(request.user, tenant),
        "csrf_token": context.get("csrf_token"),
    }
