"""Operators see sources read-only, without their credentials."""

from django.contrib import admin

from .models import Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "kind", "host", "database", "last_pull_at", "last_error")
    list_filter = ("kind",)
    search_fields = ("name", "host", "database")
    exclude = ("password_encrypted",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
