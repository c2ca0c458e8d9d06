"""Operators' console: tenants, members and roles through the services (so groups and the trail follow)."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db import transaction

from apps.audit.services import audit_record

from . import services
from .models import Invitation, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("user", "role", "created_at")
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "personal", "created_at")
    search_fields = ("name", "slug")
    readonly_fields = ("slug", "personal", "created_at")
    inlines = [MembershipInline]
    actions = None  # bulk delete would skip the service (files, groups, audit)

    def has_add_permission(self, request):
        return False  # a tenant needs an owner: created from the app by its owner

    def save_model(self, request, obj, form, change):
        before = Tenant.objects.get(pk=obj.pk)
        if "name" in form.changed_data:
            obj.name, new = before.name, obj.name
            services.tenant_rename(tenant=obj, name=new, actor=request.user, request=request)

    def delete_model(self, request, obj):
        # Operators act as superusers here; the service still checks the actor is allowed to own.
        if not request.user.is_superuser:
            raise PermissionDenied
        services.tenant_delete(
            tenant=obj, actor=request.user, confirm_name=obj.name, request=request
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "tenant__name")
    fields = ("user", "tenant", "role")
    autocomplete_fields = ("user", "tenant")
    actions = None

    def get_readonly_fields(self, request, obj=None):
        return ("user", "tenant") if obj else ()

    def save_model(self, request, obj, form, change):
        try:
            if change:
                role = obj.role
                obj.role = Membership.objects.get(pk=obj.pk).role
                services.membership_set_role(
                    membership=obj, role=role, actor=request.user, request=request
                )
            else:
                services.membership_add(
                    tenant=obj.tenant,
                    user=obj.user,
                    role=obj.role,
                    actor=request.user,
                    request=request,
                )
        except services.TenantRuleError as exc:
            messages.error(request, str(exc))

    def delete_model(self, request, obj):
        try:
            services.membership_remove(membership=obj, actor=request.user, request=request)
        except services.TenantRuleError as exc:
            messages.error(request, str(exc))


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = (
        "email",
        "tenant",
        "role",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    list_filter = ("role",)
    search_fields = ("email", "tenant__name")
    readonly_fields = [f.name for f in Invitation._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected invitations")
    def revoke(self, request, queryset):
        for invitation in queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True):
            services.invitation_revoke(invitation=invitation, actor=request.user, request=request)


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class PynomalyUserAdmin(UserAdmin):
    list_display = ("username", "email", "is_active", "is_staff", "last_login")
    actions = ["deactivate", "reactivate"]

    @admin.action(description="Deactivate selected users (signed out on their next request)")
    def deactivate(self, request, queryset):
        for user in queryset.filter(is_active=True).exclude(pk=request.user.pk):
            with transaction.atomic():
                self._set_active(request, user, False)

    @admin.action(description="Reactivate selected users")
    def reactivate(self, request, queryset):
        for user in queryset.filter(is_active=False):
            with transaction.atomic():
                self._set_active(request, user, True)

    def _set_active(self, request, user, active: bool) -> None:
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit_record(
            action="user.reactivated" if active else "user.deactivated",
            actor=request.user,
            target=user,
            request=request,
            details={"user": user.email or user.get_username()},
        )
