"""Datasets and their immutable, content-hashed versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.tenants.models import TenantOwned


class Dataset(TenantOwned):
    class Status(models.TextChoices):
        INGESTING = "ingesting", "Ingesting"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INGESTING)
    # The engine's message when the latest upload could not be ingested.
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="dataset_name_unique_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def latest_version(self) -> DatasetVersion | None:
        return self.versions.order_by("-number").first()


class Upload(TenantOwned):
    """One received file, waiting for (or done with) ingestion into a version."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Ingested"
        DUPLICATE = "duplicate", "Same as an existing version"
        FAILED = "failed", "Failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="uploads")
    file = models.FileField(upload_to="uploads/%Y/%m/", max_length=300)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=10)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    # Counted by the ingest task: a worker killed mid-ingest (out of memory) redelivers the
    # task; after a few attempts the upload is failed instead of requeued for ever.
    attempts = models.PositiveSmallIntegerField(default=0)
    # Who is ingesting it (apps.common.claims) and when it last showed life; when its
    # message was last (re)sent and how often the sweeper re-sent it (a lost message).
    holder_host = models.CharField(max_length=255, blank=True)
    holder_pid = models.PositiveIntegerField(null=True, blank=True)
    holder_started = models.FloatField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sends = models.PositiveSmallIntegerField(default=0)
    version = models.ForeignKey(
        "DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class DatasetVersion(TenantOwned):
    """Immutable once written: the original bytes, their canonical Parquet, schema and profile."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    sha256 = models.CharField(
        max_length=64, help_text="Of the original bytes, to recognise re-uploads."
    )
    original = models.FileField(upload_to="datasets/original/%Y/%m/", max_length=300)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=10)
    size = models.BigIntegerField()
    parquet = models.FileField(upload_to="datasets/parquet/%Y/%m/", max_length=300)
    rows = models.BigIntegerField()
    columns = models.PositiveIntegerField()
    schema = models.JSONField(default=list, help_text="[{name, dtype}] in column order")
    profile = models.JSONField(default=dict)
    time_column = models.CharField(max_length=255, blank=True)

    class Kind(models.TextChoices):
        TABLE = "table", "Table"
        GRAPH = "graph", "Graph"

    # A graph: ``parquet`` holds the nodes table (id + features, one row per node) and
    # ``edges`` the edges (source, target[, weight]); ``graph`` its counts and degree stats.
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.TABLE)
    edges = models.FileField(upload_to="datasets/parquet/%Y/%m/", max_length=300, blank=True)
    graph = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="version_number_unique"),
            models.UniqueConstraint(fields=["dataset", "sha256"], name="version_bytes_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"

    @property
    def is_graph(self) -> bool:
        return self.kind == self.Kind.GRAPH

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.schema]
