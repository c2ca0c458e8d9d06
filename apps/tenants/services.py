"""Tenant workflows: the only code that creates, changes or deletes tenants, memberships and invitations.

Each workflow runs in one transaction and writes exactly one audit event. Role changes move
the user between the tenant's guardian groups in the same transaction.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.db import models, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from guardian.shortcuts import assign_perm, get_group_perms, remove_perm

from apps.audit.services import audit_record
from apps.common.storage import delete_files
from apps.common.tokens import token_hash

from .models import Invitation, Membership, Role, Tenant
from .permissions import CODENAMES, OWN, ROLE_PERMISSIONS, group_name, perm_name

log = logging.getLogger(__name__)


class TenantRuleError(Exception):
    """A request that breaks a tenancy rule; the message is meant for the user."""


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _who(user) -> str:
    return user.email or user.get_username()


# ---------------------------------------------------------------- guardian role groups
def tenant_sync_role_groups(tenant: Tenant) -> dict[str, Group]:
    """One group per role holding exactly the role's object permissions on ``tenant`` (idempotent)."""
    groups = {}
    for role in Role.values:
        group, _ = Group.objects.get_or_create(name=group_name(tenant.pk, role))
        wanted = {CODENAMES[a] for a in ROLE_PERMISSIONS[role]}
        held = set(get_group_perms(group, tenant).values_list("codename", flat=True))
        for codename in wanted - held:
            assign_perm(f"tenants.{codename}", group, tenant)
        for codename in held - wanted:
            remove_perm(f"tenants.{codename}", group, tenant)
        groups[role] = group
    return groups


def _role_group(tenant: Tenant, role: str) -> Group:
    group = Group.objects.filter(name=group_name(tenant.pk, role)).first()
    return group if group is not None else tenant_sync_role_groups(tenant)[role]


def _place_in_role_group(user, tenant: Tenant, role: str | None) -> None:
    """Leave every role group of ``tenant``; join the one for ``role`` (None: join none)."""
    prefix = f"tenant:{tenant.pk}:"  # the trailing colon keeps tenant 1 apart from tenant 12
    user.groups.remove(*user.groups.filter(name__startswith=prefix))
    if role is not None:
        user.groups.add(_role_group(tenant, role))


def _lock(tenant: Tenant) -> Tenant:
    """Serialise membership changes of one tenant (the last-owner rule reads, then writes)."""
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


def _owner_count(tenant: Tenant) -> int:
    return Membership.objects.filter(tenant=tenant, role=Role.OWNER).count()


def _is_owner(user, tenant: Tenant) -> bool:
    return user is not None and user.has_perm(perm_name(OWN), tenant)


# ---------------------------------------------------------------- tenants
@transaction.atomic
def tenant_create(*, name: str, owner, personal: bool = False, request=None) -> Tenant:
    name = name.strip()
    if not name:
        raise TenantRuleError("A workspace needs a name.")
    tenant = Tenant.objects.create(name=name, slug=_unique_slug(name), personal=personal)
    tenant_sync_role_groups(tenant)
    Membership.objects.create(user=owner, tenant=tenant, role=Role.OWNER)
    _place_in_role_group(owner, tenant, Role.OWNER)
    audit_record(
        action="tenant.created",
        actor=owner,
        tenant=tenant,
        target=tenant,
        request=request,
        details={"name": name, "personal": personal},
    )
    return tenant


def tenant_create_personal(*, user, request=None) -> Tenant:
    label = (user.get_full_name() or user.email or user.get_username()).split("@")[0]
    return tenant_create(name=f"{label}'s workspace", owner=user, personal=True, request=request)


@transaction.atomic
def tenant_rename(*, tenant: Tenant, name: str, actor, request=None) -> Tenant:
    """Change the display name; the slug (and so every URL) stays."""
    name = name.strip()
    if not name:
        raise TenantRuleError("A workspace needs a name.")
    before = tenant.name
    if name == before:
        return tenant
    tenant.name = name
    tenant.save(update_fields=["name"])
    audit_record(
        action="tenant.renamed",
        actor=actor,
        tenant=tenant,
        target=tenant,
        request=request,
        details={"before": before, "after": name},
    )
    return tenant


def _tenant_files(tenant: Tenant) -> list[tuple]:
    """(storage, name) of every stored file of every tenant-owned model with a FileField."""
    files = []
    for model in django_apps.get_models():
        tenant_fks = [
            f
            for f in model._meta.get_fields()
            if isinstance(f, models.ForeignKey) and f.related_model is Tenant and f.name == "tenant"
        ]
        file_fields = [f for f in model._meta.get_fields() if isinstance(f, models.FileField)]
        if not tenant_fks or not file_fields:
            continue
        for row in model._base_manager.filter(tenant=tenant).values_list(
            *[f.attname for f in file_fields]
        ):
            files.extend(
                (f.storage, name) for f, name in zip(file_fields, row, strict=True) if name
            )
    return files


@transaction.atomic
def tenant_delete(*, tenant: Tenant, actor, confirm_name: str, request=None) -> None:
    """Delete the tenant, its rows (cascade) and, once committed, its stored files. Owners only."""
    tenant = _lock(tenant)
    if not _is_owner(actor, tenant):
        raise TenantRuleError("Only an owner can delete the workspace.")
    if confirm_name.strip() != tenant.name:
        raise TenantRuleError("Type the workspace's name exactly to confirm.")
    files = _tenant_files(tenant)
    audit_record(
        action="tenant.deleted",
        actor=actor,
        tenant=tenant,
        target=tenant,
        request=request,
        details={"name": tenant.name, "slug": tenant.slug, "files": len(files)},
    )
    # Monitors and runs protect the dataset and detector versions they use: remove them first,
    # then cascade.
    for label in ("monitors.Monitor", "runs.Run"):
        try:
            model = django_apps.get_model(label)
        except LookupError:
            continue
        model._base_manager.filter(tenant=tenant).delete()
    pk = tenant.pk
    tenant.delete()
    # guardian's object permissions point at the tenant by a generic key, not a foreign key.
    Group.objects.filter(name__startswith=f"tenant:{pk}:").delete()
    transaction.on_commit(lambda: [delete_files([name], storage) for storage, name in files])


# ---------------------------------------------------------------- memberships
@transaction.atomic
def membership_add(*, tenant: Tenant, user, role: str, actor=None, request=None) -> Membership:
    membership, created = Membership.objects.get_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    if created:
        _place_in_role_group(user, tenant, role)
        audit_record(
            action="membership.added",
            actor=actor,
            tenant=tenant,
            target=membership,
            request=request,
            details={"user": _who(user), "role": role},
        )
    return membership


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, actor, request=None) -> Membership:
    tenant = _lock(membership.tenant)
    membership = Membership.objects.select_related("user").get(pk=membership.pk)
    if role not in Role.values:
        raise TenantRuleError("Unknown role.")
    before = membership.role
    if role == before:
        return membership
    if Role.OWNER in (role, before) and not _is_owner(actor, tenant):
        raise TenantRuleError("Only an owner can make someone an owner or change an owner's role.")
    if before == Role.OWNER and _owner_count(tenant) == 1:
        raise TenantRuleError("The last owner cannot be demoted: make someone else an owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    _place_in_role_group(membership.user, tenant, role)
    audit_record(
        action="membership.role_changed",
        actor=actor,
        tenant=tenant,
        target=membership,
        request=request,
        details={"user": _who(membership.user), "before": before, "after": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor, request=None) -> None:
    tenant = _lock(membership.tenant)
    membership = Membership.objects.select_related("user").get(pk=membership.pk)
    if membership.role == Role.OWNER:
        if _owner_count(tenant) == 1:
            raise TenantRuleError("The last owner cannot be removed: transfer ownership first.")
        if not _is_owner(actor, tenant):
            raise TenantRuleError("Only an owner can remove an owner.")
    _place_in_role_group(membership.user, tenant, None)
    audit_record(
        action="membership.removed",
        actor=actor,
        tenant=tenant,
        target=membership,
        request=request,
        details={"user": _who(membership.user), "role": membership.role},
    )
    membership.delete()


@transaction.atomic
def tenant_transfer_ownership(*, tenant: Tenant, to: Membership, actor, request=None) -> None:
    """Make ``to`` an owner and the acting owner an admin."""
    tenant = _lock(tenant)
    if not _is_owner(actor, tenant):
        raise TenantRuleError("Only an owner can transfer ownership.")
    to = Membership.objects.select_related("user").get(pk=to.pk, tenant=tenant)
    mine = Membership.objects.get(tenant=tenant, user=actor)
    if to.pk == mine.pk:
        raise TenantRuleError("You already own this workspace.")
    to_before = to.role
    to.role = Role.OWNER
    to.save(update_fields=["role"])
    _place_in_role_group(to.user, tenant, Role.OWNER)
    mine.role = Role.ADMIN
    mine.save(update_fields=["role"])
    _place_in_role_group(actor, tenant, Role.ADMIN)
    audit_record(
        action="tenant.ownership_transferred",
        actor=actor,
        tenant=tenant,
        target=tenant,
        request=request,
        details={"from": _who(actor), "to": _who(to.user), "to_role_before": to_before},
    )


# ---------------------------------------------------------------- invitations
INVITABLE_ROLES = (Role.ADMIN, Role.ANALYST, Role.VIEWER)


def invitation_for_token(token: str) -> Invitation | None:
    if not token or len(token) > 100:
        return None
    return Invitation.objects.select_related("tenant").filter(token_hash=token_hash(token)).first()


def _user_addresses(user) -> set[str]:
    from allauth.account.models import EmailAddress

    found = {
        e.lower() for e in EmailAddress.objects.filter(user=user).values_list("email", flat=True)
    }
    if user.email:
        found.add(user.email.lower())
    return found


@transaction.atomic
def invitation_create(
    *, tenant: Tenant, email: str, role: str, actor, request=None
) -> tuple[Invitation, str]:
    """Create an invitation and mail its link after commit; returns it with the raw token (never stored)."""
    email = email.strip()
    if role not in INVITABLE_ROLES:
        raise TenantRuleError(
            "Invite as admin, analyst or viewer; make someone an owner once they have joined."
        )
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise TenantRuleError(f"{email} is already a member.")
    if Invitation.objects.pending().filter(tenant=tenant, email__iexact=email).exists():
        raise TenantRuleError(
            f"{email} already has a pending invitation; revoke it to send a new one."
        )
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=email,
        role=role,
        token_hash=token_hash(token),
        invited_by=actor,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
    )
    audit_record(
        action="invitation.sent",
        actor=actor,
        tenant=tenant,
        target=invitation,
        request=request,
        details={"email": email, "role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    path = reverse("invitation_accept", kwargs={"token": token})
    link = request.build_absolute_uri(path) if request is not None else path
    context = {
        "tenant": tenant,
        "role": invitation.get_role_display(),
        "link": link,
        "inviter": _who(actor) if actor else "",
        "days": settings.INVITATION_MAX_AGE_DAYS,
    }
    subject = f"You are invited to {tenant.name} on Pynomaly"
    body = render_to_string("tenants/email/invitation.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, None, [email]))
    return invitation, token


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor, request=None) -> None:
    now = timezone.now()
    changed = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    if not changed:
        raise TenantRuleError("This invitation was already used or revoked.")
    audit_record(
        action="invitation.revoked",
        actor=actor,
        tenant=invitation.tenant,
        target=invitation,
        request=request,
        details={"email": invitation.email, "role": invitation.role},
    )


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user, request=None) -> Membership:
    """Join the tenant with the invited role: once, before expiry, with the invited address."""
    if invitation.status != Invitation.Status.PENDING:
        raise TenantRuleError("This invitation is no longer valid. Ask for a new one.")
    if invitation.email.lower() not in _user_addresses(user):
        raise TenantRuleError(
            "This invitation was sent to a different e-mail address. "
            "Sign in with the invited address to accept it."
        )
    tenant = _lock(invitation.tenant)
    if Membership.objects.filter(tenant=tenant, user=user).exists():
        raise TenantRuleError("You are already a member of this workspace.")
    # The conditional update is the single-use guarantee: of two concurrent accepts, one changes the row.
    used = Invitation.objects.filter(
        pk=invitation.pk,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).update(accepted_at=timezone.now(), accepted_by=user)
    if not used:
        raise TenantRuleError("This invitation is no longer valid. Ask for a new one.")
    membership = Membership.objects.create(tenant=tenant, user=user, role=invitation.role)
    _place_in_role_group(user, tenant, invitation.role)
    audit_record(
        action="invitation.accepted",
        actor=user,
        tenant=tenant,
        target=membership,
        request=request,
        details={"email": invitation.email, "role": invitation.role, "invitation": invitation.pk},
    )
    return membership
