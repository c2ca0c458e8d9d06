from django.contrib import admin

from .models import Run


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Read-only: run state is written by the services and the task, never by hand."""

    list_display = (
        "id",
        "tenant",
        "status",
        "stage",
        "percent",
        "attempts",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "tenant")
    search_fields = ("id", "error")
    readonly_fields = [f.name for f in Run._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
