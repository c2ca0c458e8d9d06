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
    # The workspace's own setting named tracking_uri (else the environment's MLFLOW_TRACKING_URI):
    # its host is checked by the network guard and the workspace's credentials are used.
    from_workspace = models.BooleanField(default=False)
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


class MlflowSetting(TenantOwned):
    """A workspace's own MLflow tracking server; when enabled it wins over MLFLOW_TRACKING_URI.

    ``secret_encrypted`` holds the password (basic auth) or the token, encrypted with
    :mod:`apps.common.secrets`; the plain text only ever reaches MLflow's client.
    """

    class Auth(models.TextChoices):
        NONE = "none", "No credentials"
        BASIC = "basic", "Username and password"
        TOKEN = "token", "Bearer token"

    enabled = models.BooleanField(default=True)
    tracking_uri = models.CharField(max_length=500)
    auth = models.CharField(max_length=8, choices=Auth.choices, default=Auth.NONE)
    username = models.CharField(max_length=255, blank=True)
    secret_encrypted = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="mlflow_setting_one_per_tenant")
        ]

    def __str__(self) -> str:
        return f"MLflow setting of tenant {self.tenant_id}"

    @property
    def secret_set(self) -> bool:
        return bool(self.secret_encrypted)
