"""Token workflows: the only writers of ApiToken; each audited without the token itself."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.services import audit_record
from apps.common.tokens import token_hash
from apps.tenants.models import Membership, Tenant

from .models import ApiToken, Scope

TOKEN_PREFIX = "pyn_"
MAX_EXPIRY_DAYS = 3650


class TokenError(Exception):
    """A token request that breaks a rule; the message is meant for the user."""


def _new_raw_token() -> str:
    # 30 random bytes are exactly 40 urlsafe base64 characters.
    return TOKEN_PREFIX + secrets.token_urlsafe(30)


@transaction.atomic
def token_create(
    *,
    user,
    tenant: Tenant,
    name: str,
    scope: str = Scope.READ,
    expires_in_days: int | None = None,
    request=None,
) -> tuple[ApiToken, str]:
    """A new token for ``user`` in ``tenant``; returns it with the raw value (shown once, never stored)."""
    name = (name or "").strip()
    if not name:
        raise TokenError("A token needs a name.")
    if len(name) > 100:
        raise TokenError("The name is too long (100 characters at most).")
    if scope not in Scope.values:
        raise TokenError("The scope is read or write.")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise TokenError(f"Expiry is between 1 and {MAX_EXPIRY_DAYS} days, or never.")
    if not Membership.objects.filter(user=user, tenant=tenant).exists():
        raise TokenError("Only members of the workspace can create tokens for it.")
    raw = _new_raw_token()
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken.objects.create(
        user=user,
        tenant=tenant,
        name=name,
        token_hash=token_hash(raw),
        prefix=raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 8],
        scope=scope,
        expires_at=expires_at,
    )
    audit_record(
        action="token.created",
        actor=user,
        tenant=tenant,
        target=token,
        request=request,
        details={
            "name": name,
            "prefix": token.prefix,
            "scope": scope,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, raw


@transaction.atomic
def token_revoke(*, token: ApiToken, actor, request=None) -> ApiToken:
    """Revoke at once: the next request with it answers 401."""
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not changed:
        raise TokenError("This token was already revoked.")
    token.refresh_from_db()
    audit_record(
        action="token.revoked",
        actor=actor,
        tenant=token.tenant,
        target=token,
        request=request,
        details={"name": token.name, "prefix": token.prefix, "scope": token.scope},
    )
    return token


def token_authenticate(raw: str) -> ApiToken | None:
    """The usable token for a raw value, with its user and tenant; None when unknown, revoked or expired."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = (
        ApiToken.objects.usable()
        .select_related("user", "tenant")
        .filter(token_hash=token_hash(raw))
        .first()
    )
    return token


def token_membership(raw: str) -> tuple[ApiToken, Membership] | None:
    """The usable token for a raw value and its user's membership in its tenant, as of now, in ONE query.

    None when the token is unknown, revoked or expired, its user is inactive, or the user is
    no longer a member of the token's tenant. The token comes with ``user`` and ``tenant``
    loaded; the membership shares them, with its role read in the same statement.
    """
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = (
        ApiToken.objects.usable()
        .filter(token_hash=token_hash(raw), user__is_active=True, user__memberships__tenant=F("tenant"))
        .select_related("user", "tenant")
        .annotate(m_id=F("user__memberships__id"), m_role=F("user__memberships__role"),
                  m_created_at=F("user__memberships__created_at"))
        .order_by()
        .first()
    )  # fmt: skip
    if token is None:
        return None
    membership = Membership(
        id=token.m_id,
        user_id=token.user_id,
        tenant_id=token.tenant_id,
        role=token.m_role,
        created_at=token.m_created_at,
    )
    membership._state.adding = False
    membership._state.db = token._state.db
    membership.user, membership.tenant = token.user, token.tenant
    return token, membership


def token_touch(token: ApiToken) -> None:
    """Record use at most once a minute (a busy client must not write on every request)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(seconds=60):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
