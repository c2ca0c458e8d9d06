"""Database sources: a SQL database a workspace reads rows from (credentials encrypted)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.tenants.models import TenantOwned


class Source(TenantOwned):
    class Kind(models.TextChoices):
        POSTGRESQL = "postgresql", "PostgreSQL"
        MYSQL = "mysql", "MySQL / MariaDB"
        SQLITE = "sqlite", "SQLite file (under the server's source directory)"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    database = models.CharField(max_length=255)
    username = models.CharField(max_length=255, blank=True)
    # Encrypted with the keys from the environment (apps.common.secrets); never shown back.
    password_encrypted = models.TextField(blank=True)
    options = models.JSONField(default=dict, blank=True, help_text="driver options (sslmode …)")

    # What to read: a read-only query, or a table and its columns.
    query = models.TextField(blank=True)
    table = models.CharField(max_length=255, blank=True)
    columns = models.JSONField(default=list, blank=True)
    # Incremental mode: only rows whose watermark column is past the last value read.
    watermark_column = models.CharField(max_length=255, blank=True)
    watermark_value = models.CharField(max_length=255, blank=True)
    # How watermark_value reads back (int, float, datetime, date, text): see pynomaly.sql.Watermark.
    watermark_type = models.CharField(max_length=10, blank=True)

    statement_timeout_seconds = models.PositiveIntegerField(default=30)
    row_cap = models.PositiveIntegerField(default=1_000_000)
    columns_cap = models.PositiveIntegerField(default=500)

    # Each pull becomes a new version of this dataset.
    dataset = models.OneToOneField(
        "datasets.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="source"
    )
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_pull_rows = models.PositiveIntegerField(null=True, blank=True)
    # Set while a pull runs (one at a time per source, so two cannot read past one watermark).
    pulling_since = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="source_name_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def password_set(self) -> bool:
        return bool(self.password_encrypted)

    @property
    def incremental(self) -> bool:
        return bool(self.watermark_column)

    def address(self) -> str:
        """Where it reads from, for lists and messages (never with credentials)."""
        if self.kind == self.Kind.SQLITE:
            return f"sqlite:{self.database}"
        user = f"{self.username}@" if self.username else ""
        return f"{self.kind}://{user}{self.host}:{self.port}/{self.database}"
