"""Tenant workflows: the only code that creates tenants and memberships."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from apps.audit.services import audit_record

from .models import Membership, Role, Tenant


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def tenant_create(*, name: str, owner, personal: bool = False, request=None) -> Tenant:
    tenant = Tenant.objects.create(name=name, slug=_unique_slug(name), personal=personal)
    Membership.objects.create(user=owner, tenant=tenant, role=Role.OWNER)
    audit_record(action="tenant.created", actor=owner, tenant=tenant, target=tenant, request=request,
                 details={"name": name, "personal": personal})
    return tenant


def tenant_create_personal(*, user, request=None) -> Tenant:
    label = (user.get_full_name() or user.email or user.get_username()).split("@")[0]
    return tenant_create(name=f"{label}'s workspace", owner=user, personal=True, request=request)


@transaction.atomic
def membership_add(*, tenant: Tenant, user, role: str, actor=None, request=None) -> Membership:
    membership, created = Membership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": role})
    if created:
        audit_record(action="membership.added", actor=actor, tenant=tenant, target=membership, request=request,
                     details={"user": user.email or user.get_username(), "role": role})
    return membership
