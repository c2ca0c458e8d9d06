"""Tenants (organisations), memberships with a role, and the tenant-scoping pattern."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"


class Tenant(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    personal = models.BooleanField(default=False, help_text="Created for one user at sign-up.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        # Object permissions granted per tenant to its role groups (view_tenant is Django's default).
        permissions = [
            ("create_content", "Create and run datasets, detectors and runs"),
            ("manage_tenant", "Manage members, invitations, settings and the audit trail"),
            ("own_tenant", "Delete the workspace and transfer ownership"),
        ]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(models.QuerySet):
    def for_user(self, user) -> MembershipQuerySet:
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(user=user).select_related("tenant")


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "tenant"], name="one_membership_per_user_and_tenant"
            )
        ]
        ordering = ["tenant__name"]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"


class TenantScopedQuerySet(models.QuerySet):
    """Base queryset for every tenant-owned model: reads start from ``for_tenant``."""

    def for_tenant(self, tenant: Tenant) -> TenantScopedQuerySet:
        return self.filter(tenant=tenant)


class TenantOwned(models.Model):
    """Abstract base: a ``tenant`` foreign key and the scoped manager."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        abstract = True


class InvitationQuerySet(models.QuerySet):
    def pending(self) -> InvitationQuerySet:
        from django.utils import timezone

        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class Invitation(models.Model):
    """An e-mailed, expiring, single-use link to join a tenant; only a hash of its token is stored."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    # sha256 of the token in the link: a copy of the database does not let anyone accept.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant} ({self.role})"

    @property
    def status(self) -> str:
        from django.utils import timezone

        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING


class SsoPolicy(models.Model):
    """A workspace's single sign-on: the operator's connection it trusts, whether it is required,
    and whom a first sign-in through it makes a member (``default_role`` blank: only those whose
    groups match a mapping)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="sso_policy")
    connection = models.CharField(max_length=40, blank=True)
    required = models.BooleanField(default=False)
    groups_claim = models.CharField(max_length=100, default="groups")
    default_role = models.CharField(max_length=10, choices=Role.choices, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"SSO of {self.tenant}: {self.connection or 'none'}"


class SsoRoleMapping(models.Model):
    """An identity-provider group (a value of the groups claim) → a role in the workspace."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sso_mappings")
    value = models.CharField(max_length=200)
    role = models.CharField(max_length=10, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "value"], name="one_role_per_sso_group")
        ]
        ordering = ["value"]

    def __str__(self) -> str:
        return f"{self.value} → {self.role} in {self.tenant}"
