"""Operators see datasets, versions and uploads; changes go through the app (services), not here."""

from django.contrib import admin

from .models import Dataset, DatasetVersion, Upload


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting here would skip the run check, the audit event and file clean-up.
        return False


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ["name", "tenant", "status", "created_by", "updated_at"]
    list_filter = ["status", "tenant"]
    search_fields = ["name", "tenant__name", "tenant__slug"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = [
        "dataset",
        "number",
        "tenant",
        "rows",
        "columns",
        "format",
        "size",
        "created_at",
    ]
    list_filter = ["format", "tenant"]
    search_fields = ["dataset__name", "sha256", "original_name"]
    exclude = ["profile"]


@admin.register(Upload)
class UploadAdmin(ReadOnlyAdmin):
    list_display = [
        "original_name",
        "dataset",
        "tenant",
        "status",
        "format",
        "size",
        "attempts",
        "created_at",
    ]
    list_filter = ["status", "format", "tenant"]
    search_fields = ["original_name", "dataset__name", "sha256"]
