"""Recording audit events: call ``audit_record`` inside the action's own transaction."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from . import chain
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
    """Write one audit event; runs in the caller's transaction so both commit or neither.

    The event is chained to its tenant's last one. The chain's lock is held until the caller's
    transaction ends, so the next writer of that tenant sees this event as committed (or not
    at all, after a rollback) before it chains to it.
    """
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    tenant_id = tenant.pk if tenant is not None else None
    with transaction.atomic():
        chain.lock_chain(tenant_id)
        last = (
            AuditEvent.objects.filter(tenant=tenant)  # None: the global chain (IS NULL)
            .order_by("-seq")
            .values_list("seq", "hash")
            .first()
        )
        event = AuditEvent(
            created_at=timezone.now(),
            action=action,
            actor=actor,
            actor_repr=actor_repr or (actor.get_username() if actor is not None else ""),
            tenant=tenant,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            ip=client_ip(request),
            details=chain.canonical_details(_scrub(details or {})),
            seq=last[0] + 1 if last else 1,
            prev_hash=last[1] if last else "",
        )
        event.hash = chain.hash_of(event)
        event.save()
    return event
