"""One row per finished run that is (to be) logged to MLflow: status, attempts, last error."""

from __future__ import annotations

from django.db import models

from apps.tenants.models import TenantOwned


class MlflowSync(TenantOwned):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        LOGGED = "logged", "Logged"
        FAILED = "failed", "Failed"

    run = models.OneToOneField("runs.Run", on_delete=models.CASCADE, related_name="mlflow_sync")
    tracking_uri = models.CharField(max_length=500)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    experiment_id = models.CharField(max_length=64, blank=True)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    registered_name = models.CharField(max_length=255, blank=True)
    registered_version = models.CharField(max_length=32, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"MLflow sync of run {self.run_id}: {self.status}"

    @property
    def run_url(self) -> str:
        """A link to the MLflow UI when the tracking URI is an HTTP server."""
        if not self.mlflow_run_id or not self.tracking_uri.startswith(("http://", "https://")):
            return ""
        base = self.tracking_uri.rstrip("/")
        return f"{base}/#/experiments/{self.experiment_id}/runs/{self.mlflow_run_id}"
