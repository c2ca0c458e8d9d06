"""Verdicts in the operators' console: read-only (changes go through the services, audited)."""

from django.contrib import admin

from .models import Verdict, VerdictChange


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Verdict)
class VerdictAdmin(ReadOnly):
    list_display = ("dataset_version", "row", "verdict", "created_by", "made_at", "tenant")
    list_filter = ("verdict",)
    search_fields = ("note",)


@admin.register(VerdictChange)
class VerdictChangeAdmin(ReadOnly):
    list_display = ("uuid", "dataset_version", "row", "verdict", "applied", "created_by", "made_at")
    list_filter = ("applied", "verdict")
