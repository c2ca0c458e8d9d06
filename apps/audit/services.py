"""Recording audit events: call ``audit_record`` inside the action's own transaction."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from .models import AuditEvent

_SECRET_WORDS = ("password", "secret", "token", "key")


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address; X-Forwarded-For counts only when the peer is a trusted proxy."""
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = set(settings.TRUSTED_PROXIES)
    if remote and remote in trusted:
        forwarded = [
            p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()
        ]
        # Walk from the nearest hop outwards; the first address we do not trust is the client.
        for hop in reversed(forwarded):
            if hop not in trusted:
                remote = hop
                break
    try:
        return str(ipaddress.ip_address(remote)) if remote else None
    except ValueError:
        return None


def _scrub(details: dict[str, Any]) -> dict[str, Any]:
    return {
        k: ("[redacted]" if any(w in k.lower() for w in _SECRET_WORDS) else v)
        for k, v in details.items()
    }


def audit_record(
    *,
    action: str,
    actor=None,
    tenant=None,
    target=None,
    request: HttpRequest | None = None,
    details: dict[str, Any] | None = None,
    actor_repr: str = "",
) -> AuditEvent:
    """Write one audit event; runs in the caller's transaction so both commit or neither."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_repr=actor_repr or (actor.get_username() if actor is not None else ""),
        tenant=tenant,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        ip=client_ip(request),
        details=_scrub(details or {}),
    )
