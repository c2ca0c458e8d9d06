from django.contrib import admin

from .models import DetectorConfig, DetectorConfigVersion, TrainedModel


class VersionInline(admin.TabularInline):
    model = DetectorConfigVersion
    extra = 0
    can_delete = False
    fields = ("number", "pipeline", "created_by", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # versions are written by detector_config_update only


@admin.register(DetectorConfig)
class DetectorConfigAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "created_by", "updated_at")
    list_filter = ("tenant",)
    search_fields = ("name",)
    readonly_fields = ("tenant", "created_by", "created_at", "updated_at")
    inlines = [VersionInline]


@admin.register(TrainedModel)
class TrainedModelAdmin(admin.ModelAdmin):
    list_display = ("run", "tenant", "detector_version", "sha256", "created_at")
    list_filter = ("tenant",)
    readonly_fields = [f.name for f in TrainedModel._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
