from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "actor_repr",
        "action",
        "tenant",
        "target_type",
        "target_id",
        "ip",
    )
    list_filter = ("action", "tenant")
    search_fields = ("actor_repr", "action", "target_id")
    date_hierarchy = "created_at"
    readonly_fields = ("seq", "prev_hash", "hash")  # the chain, shown for reference

    # The trail is append-only: operators read it, nobody edits it.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
