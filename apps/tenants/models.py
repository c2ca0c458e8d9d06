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

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(models.QuerySet):
    def for_user(self, user) -> MembershipQuerySet:
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(user=user).select_related("tenant")


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_user_and_tenant")]
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
