"""Detector configurations (named, versioned) and trained model artifacts."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.tenants.models import TenantOwned


class DetectorConfig(TenantOwned):
    """A named configuration; every edit adds a version so past runs stay reproducible."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="detector_name_unique_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def current(self) -> DetectorConfigVersion | None:
        return self.versions.order_by("-number").first()


class DetectorConfigVersion(TenantOwned):
    """Immutable: ``pipeline`` is ``pynomaly.detect.PipelineConfig.to_dict()``."""

    config = models.ForeignKey(DetectorConfig, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    pipeline = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["config", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["config", "number"], name="detector_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.config.name} v{self.number}"

    @property
    def detector_keys(self) -> list[str]:
        return [
            d[0] if isinstance(d, (list, tuple)) else d["key"]
            for d in self.pipeline.get("detectors", [])
        ]


class TrainedModel(TenantOwned):
    """A fitted pipeline saved with skops; loaded only after its sha256 matches."""

    run = models.OneToOneField("runs.Run", on_delete=models.CASCADE, related_name="trained_model")
    detector_version = models.ForeignKey(
        DetectorConfigVersion, on_delete=models.PROTECT, related_name="+"
    )
    artifact = models.FileField(upload_to="models/%Y/%m/", max_length=300)
    sha256 = models.CharField(max_length=64)
    feature_names = models.JSONField(default=list)
    input_columns = models.JSONField(default=list)
    threshold = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Model of run {self.run_id}"
