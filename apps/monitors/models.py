"""Monitors: a source or dataset watched on a schedule with a trained model; one row per execution."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.tenants.models import TenantOwned


class Monitor(TenantOwned):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"

    class Schedule(models.TextChoices):
        INTERVAL = "interval", "Every N seconds"
        CRON = "cron", "Cron expression"
        ON_NEW_VERSION = "on_new_version", "On every new dataset version"

    class Retrain(models.TextChoices):
        MANUAL = "manual", "Manually"
        EVERY_N = "every_n", "Every N executions"
        ON_DRIFT = "on_drift", "When drift is detected"

    name = models.CharField(max_length=200)
    # Exactly one of source / dataset (a constraint below).
    source = models.ForeignKey(
        "sources.Source", null=True, blank=True, on_delete=models.PROTECT, related_name="monitors"
    )
    dataset = models.ForeignKey(
        "datasets.Dataset", null=True, blank=True, on_delete=models.PROTECT, related_name="monitors"
    )
    detector_version = models.ForeignKey(
        "detectors.DetectorConfigVersion", on_delete=models.PROTECT, related_name="monitors"
    )
    threshold = models.FloatField(
        null=True, blank=True, help_text="score threshold; empty = the model's own"
    )
    schedule = models.CharField(max_length=20, choices=Schedule.choices, default=Schedule.INTERVAL)
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    cron = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    retrain = models.CharField(max_length=10, choices=Retrain.choices, default=Retrain.MANUAL)
    retrain_every = models.PositiveIntegerField(null=True, blank=True)
    # The model executions score with; refit by the retrain policy.
    model = models.ForeignKey(
        "detectors.TrainedModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The beat entry that triggers interval / cron monitors (apps.monitors.schedules keeps it
    # in step with schedule and status); None for "on every new dataset version".
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="monitor_name_unique_per_tenant"
            ),
            models.CheckConstraint(
                condition=models.Q(source__isnull=False, dataset__isnull=True)
                | models.Q(source__isnull=True, dataset__isnull=False),
                name="monitor_watches_source_or_dataset",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def watched_dataset_id(self) -> int | None:
        """The dataset whose versions executions read (a source's pulls land in its dataset)."""
        return self.source.dataset_id if self.source is not None else self.dataset_id


class MonitorExecution(TenantOwned):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "No new rows"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"
        NEW_VERSION = "new_version", "New dataset version"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.SKIPPED)

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="executions")
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.SCHEDULE)
    attempts = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    run = models.OneToOneField(
        "runs.Run",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="monitor_execution",
    )
    retrained = models.BooleanField(default=False)
    rows = models.BigIntegerField(default=0)
    anomalies = models.BigIntegerField(default=0)
    max_severity = models.FloatField(null=True, blank=True)
    flagged_share = models.FloatField(null=True, blank=True)
    # {"detected": bool, "features": {name: {"test", "statistic", "p_value", "psi", "drifted"}}}
    drift = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["monitor", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["monitor", "number"], name="execution_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.monitor.name} #{self.number}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def drift_detected(self) -> bool:
        return bool(self.drift.get("detected"))
