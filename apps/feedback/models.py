"""Analysts' verdicts on rows of a dataset version: the labels the platform learns from."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.tenants.models import TenantOwned


class Kind(models.TextChoices):
    ANOMALY = "anomaly", "Anomaly"
    NORMAL = "normal", "Normal"
    UNSURE = "unsure", "Unsure"


# What each verdict means as a training label; unsure is no label.
LABEL_OF = {Kind.ANOMALY: 1, Kind.NORMAL: 0}


class Verdict(TenantOwned):
    """The workspace's current verdict on one row (``row`` = position in the canonical Parquet).

    One per (dataset version, row): a new verdict replaces the old one; every change is kept
    in :class:`VerdictChange` and in the audit trail.
    """

    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.CASCADE, related_name="verdicts"
    )
    row = models.BigIntegerField()
    verdict = models.CharField(max_length=8, choices=Kind.choices)
    note = models.TextField(blank=True, max_length=2000)
    # The run whose results the analyst was looking at (the verdict is on the data, not the run).
    run = models.ForeignKey(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="verdicts"
    )
    # The client-generated id of the change that set this verdict (see VerdictChange.uuid).
    uuid = models.UUIDField()
    # When the analyst made it (on their device, possibly offline); later verdicts win.
    made_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["row"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset_version", "row"], name="one_verdict_per_version_row"
            )
        ]

    def __str__(self) -> str:
        return f"row {self.row}: {self.verdict}"

    @property
    def label(self) -> int | None:
        return LABEL_OF.get(Kind(self.verdict))


class VerdictChange(TenantOwned):
    """One verdict as it was sent (set or cleared), keyed by the client's UUID.

    A replayed UUID (an offline queue that syncs twice, a retried request) finds its row here
    and changes nothing. ``applied`` is False when a later verdict on the row already existed.
    """

    uuid = models.UUIDField(unique=True)
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.CASCADE, related_name="+"
    )
    row = models.BigIntegerField()
    verdict = models.CharField(max_length=8, choices=Kind.choices, blank=True)  # blank: cleared
    note = models.TextField(blank=True, max_length=2000)
    run = models.ForeignKey(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    made_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    applied = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-made_at", "-id"]
        indexes = [models.Index(fields=["dataset_version", "row"])]

    def __str__(self) -> str:
        return f"row {self.row}: {self.verdict or 'cleared'}"
