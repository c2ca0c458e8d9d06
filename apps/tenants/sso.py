"""Single sign-on workflows: a workspace's SSO policy, provisioning on SSO sign-in, and refusing
password sign-in to members of workspaces that require SSO. The only writers of SSO models."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.audit.services import audit_record

from . import sso_config
from .models import Membership, Role, SsoPolicy, SsoRoleMapping, Tenant
from .services import INVITABLE_ROLES, TenantRuleError, membership_add

log = logging.getLogger(__name__)

# A user matching several groups gets the most capable of their roles.
_RANK = {Role.VIEWER: 0, Role.ANALYST: 1, Role.ADMIN: 2}


def configured_connections() -> list[tuple[str, str]]:
    return sso_config.connections(getattr(settings, "SOCIALACCOUNT_PROVIDERS", {}))


def policy_for(tenant: Tenant) -> SsoPolicy:
    """The workspace's policy, unsaved defaults when it never had one."""
    return SsoPolicy.objects.filter(tenant=tenant).first() or SsoPolicy(tenant=tenant)


def parse_mappings(text: str) -> list[tuple[str, str]]:
    """``group = role`` lines → pairs; a bad line raises with its number."""
    pairs: list[tuple[str, str]] = []
    roles = {r.value for r in INVITABLE_ROLES}
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        value, sep, role = line.rpartition("=")
        value, role = value.strip(), role.strip().lower()
        if not sep or not value or role not in roles:
            raise TenantRuleError(
                f"Line {n} of the group mapping should read 'group = role' with a role among "
                f"{', '.join(sorted(roles))}."
            )
        if any(v == value for v, _ in pairs):
            raise TenantRuleError(f"Group {value!r} is mapped twice.")
        pairs.append((value, role))
    return pairs


def mappings_text(tenant: Tenant) -> str:
    return "\n".join(f"{m.value} = {m.role}" for m in SsoRoleMapping.objects.filter(tenant=tenant))


def has_identity(user, connection: str) -> bool:
    from allauth.socialaccount.models import SocialAccount

    return SocialAccount.objects.filter(user=user, provider=connection).exists()


@transaction.atomic
def sso_policy_update(
    *,
    tenant: Tenant,
    connection: str,
    required: bool,
    groups_claim: str,
    default_role: str,
    mappings: str,
    actor,
    request=None,
) -> SsoPolicy:
    known = {c for c, _ in configured_connections()}
    if connection and connection not in known:
        raise TenantRuleError("That sign-in connection is not configured on this server.")
    if required and not connection:
        raise TenantRuleError("Choose the connection members must sign in with.")
    if required and not has_identity(actor, connection):
        # Otherwise the admin locks themselves (and perhaps everyone) out of the workspace.
        raise TenantRuleError(
            "Sign in once through this connection yourself before requiring it, so that you "
            "are not locked out."
        )
    if default_role and default_role not in {r.value for r in INVITABLE_ROLES}:
        raise TenantRuleError("Unknown default role.")
    pairs = parse_mappings(mappings)
    policy = policy_for(tenant)
    before = {
        "connection": policy.connection,
        "required": policy.required,
        "groups_claim": policy.groups_claim,
        "default_role": policy.default_role,
        "mappings": mappings_text(tenant) if policy.pk else "",
    }
    policy.connection = connection
    policy.required = required
    policy.groups_claim = groups_claim.strip() or "groups"
    policy.default_role = default_role
    policy.save()
    SsoRoleMapping.objects.filter(tenant=tenant).delete()
    SsoRoleMapping.objects.bulk_create(
        SsoRoleMapping(tenant=tenant, value=v, role=r) for v, r in pairs
    )
    after = {
        "connection": connection,
        "required": required,
        "groups_claim": policy.groups_claim,
        "default_role": default_role,
        "mappings": mappings_text(tenant),
    }
    if after != before:
        audit_record(
            action="tenant.sso_updated",
            actor=actor,
            tenant=tenant,
            target=tenant,
            request=request,
            details={"before": before, "after": after},
        )
    return policy


# ---------------------------------------------------------------- sign-in
def claims_of(provider: str, extra_data: Any) -> dict[str, Any]:
    """The identity provider's claims/attributes as one flat dict."""
    if not isinstance(extra_data, dict):
        return {}
    if "userinfo" in extra_data or "id_token" in extra_data:  # OIDC: ID token, then userinfo
        merged: dict[str, Any] = {}
        for part in ("id_token", "userinfo"):
            if isinstance(extra_data.get(part), dict):
                merged.update(extra_data[part])
        return merged
    return extra_data  # SAML: attribute name → list of values


def _values(claim: Any) -> set[str]:
    if claim is None:
        return set()
    if isinstance(claim, (list, tuple, set)):
        return {str(v) for v in claim}
    return {str(claim)}


def mapped_role(policy: SsoPolicy, claims: dict[str, Any]) -> str:
    """The role a sign-in with ``claims`` earns in ``policy``'s workspace ('' = none)."""
    groups = _values(claims.get(policy.groups_claim))
    roles = [
        m.role for m in SsoRoleMapping.objects.filter(tenant_id=policy.tenant_id, value__in=groups)
    ]
    if roles:
        return max(roles, key=lambda r: _RANK.get(Role(r), 0))
    return policy.default_role


def sso_provision(*, user, connection: str, extra_data: Any, request=None) -> list[Membership]:
    """After a sign-in through ``connection``: join every workspace bound to it that the user
    is not yet in, with the role their groups map to (or the default); audited per workspace."""
    claims = claims_of(connection, extra_data)
    added = []
    for policy in SsoPolicy.objects.filter(connection=connection).select_related("tenant"):
        if Membership.objects.filter(tenant=policy.tenant, user=user).exists():
            continue
        role = mapped_role(policy, claims)
        if not role:
            continue
        with transaction.atomic():
            membership = membership_add(
                tenant=policy.tenant, user=user, role=role, actor=None, request=request
            )
            audit_record(
                action="membership.sso_provisioned",
                actor=user,
                tenant=policy.tenant,
                target=membership,
                request=request,
                details={"connection": connection, "role": role},
            )
        added.append(membership)
    return added


def sso_required_by(user, connection: str | None) -> list[Tenant]:
    """The workspaces of ``user`` that refuse a sign-in not made through their connection."""
    policies = SsoPolicy.objects.filter(
        required=True, tenant__memberships__user=user
    ).select_related("tenant")
    return [p.tenant for p in policies if p.connection != connection]


@transaction.atomic
def sso_refuse_sign_in(*, user, tenants: list[Tenant], method: str, request=None) -> None:
    for tenant in tenants:
        audit_record(
            action="auth.sign_in_refused",
            actor=user,
            tenant=tenant,
            target=user,
            request=request,
            details={"reason": "sso_required", "method": method},
        )
