"""Detection runs: state lives here; sockets only nudge pages to show it."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from apps.tenants.models import TenantOwned


class RunQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        return self.filter(tenant=tenant)

    def active(self):
        return self.filter(status__in=[Run.Status.QUEUED, Run.Status.RUNNING])


class Run(TenantOwned):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    class Stage(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        LOADING = "loading", "Loading data"
        PREPARING = "preparing", "Preparing features"
        FITTING = "fitting", "Fitting"
        SCORING = "scoring", "Scoring"
        EXPLAINING = "explaining", "Explaining"
        WRITING = "writing", "Writing results"
        DONE = "done", "Done"

    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.PROTECT, related_name="runs"
    )
    detector_version = models.ForeignKey(
        "detectors.DetectorConfigVersion", on_delete=models.PROTECT, related_name="runs"
    )
    label_column = models.CharField(max_length=255, blank=True)
    max_fit_rows = models.PositiveIntegerField(
        null=True, blank=True, help_text="Fit on a sample this large."
    )
    # Partial labels for training (1 = known anomaly, 0 = known normal, empty = unknown): a
    # column of the dataset, and/or the analysts' verdicts on this dataset version.
    train_label_column = models.CharField(max_length=255, blank=True)
    use_verdicts = models.BooleanField(
        default=False, help_text="Train with the analysts' verdicts on this dataset's rows."
    )
    # Lineage: the run this one was started from (rerun, retrain with feedback, fine-tune).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    # Score with this trained model instead of fitting one (monitor executions; fine-tuning
    # starts from it when the detector supports that).
    scoring_model = models.ForeignKey(
        "detectors.TrainedModel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="scoring_runs",
    )
    # What the automatic selection chose and why (detectors, reasons, alternatives).
    selection = models.JSONField(default=dict, blank=True)
    # Transfer learning: a deep detector starts from this model's weights (same schema) and
    # is fine-tuned on this run's data for a few epochs.
    base_model = models.ForeignKey(
        "detectors.TrainedModel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fine_tuned_runs",
    )
    # Where the model was trained ("cpu", "cuda:0"): PYNOMALY_DEVICE at the time of the run.
    device = models.CharField(max_length=16, blank=True)

    class Analysis(models.TextChoices):
        TABLE = "table", "Rows of a table"
        GRAPH = "graph", "Nodes of a graph"
        TIMESERIES = "timeseries", "Time series"

    # What the rows are: table rows, graph nodes, or points of one or more time series.
    analysis = models.CharField(max_length=12, choices=Analysis.choices, default=Analysis.TABLE)
    # Per analysis: time series {"time_column", "value_columns", "id_column", "window"};
    # graph {"edges": ..., "id_column"}.
    analysis_options = models.JSONField(default=dict, blank=True)

    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    stage = models.CharField(max_length=10, choices=Stage.choices, default=Stage.QUEUED)
    percent = models.FloatField(default=0)
    # What is known inside a stage beyond rows: {"epoch", "epochs", "loss", "trees_done",
    # "trees", "eta_seconds", "note"} — shown beside the progress bar.
    progress_detail = models.JSONField(default=dict, blank=True)
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    rows_per_second = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    # Who holds the claim (apps.common.claims): a redelivered task whose holder is dead
    # resumes at once instead of waiting for the heartbeat to age.
    holder_host = models.CharField(max_length=255, blank=True)
    holder_pid = models.PositiveIntegerField(null=True, blank=True)
    holder_started = models.FloatField(
        null=True, blank=True, help_text="start time of the holder's process (epoch seconds)"
    )
    # When the task's message was last sent, and how often the sweeper re-sent it because
    # nobody claimed the run (a message lost with the broker or a dying web process).
    sent_at = models.DateTimeField(null=True, blank=True)
    sends = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="seconds per stage")

    # Results: the Parquet holds every row; the summary holds what pages show first.
    results = models.FileField(upload_to="runs/%Y/%m/", max_length=300, blank=True)
    # Per-row attributions of the flagged / top rows (Parquet), written by the explain step.
    explanations = models.FileField(upload_to="runs/%Y/%m/", max_length=300, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status"])]
        # Granted per user on one run by apps.runs.sharing (django-guardian); see RunShare.
        permissions = [("view_shared_run", "View this run's results through a share")]

    def __str__(self) -> str:
        return f"Run #{self.pk}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()

    def url(self, name: str = "detail", **query) -> str:
        """The path of this run's page ``runs:<name>``, with the query parameters that have a value."""
        path = reverse(f"runs:{name}", kwargs={"tenant_slug": self.tenant.slug, "run_id": self.pk})
        query = {k: v for k, v in query.items() if v not in (None, "")}
        return f"{path}?{urlencode(query)}" if query else path


class RunShareQuerySet(models.QuerySet):
    def live(self):
        """Shares not revoked and not past their expiry (checked on every request)."""
        now = timezone.now()
        return self.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class RunShare(models.Model):
    """Read-only access to one run's results for a user outside its tenant.

    The grant itself is the guardian permission ``runs.view_shared_run`` on the run; this row
    holds what pages and the audit trail show (who shared, until when). Revoking deletes both.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="run_shares"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RunShareQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "user"], name="one_share_per_run_and_user")
        ]

    def __str__(self) -> str:
        return f"{self.run} shared with {self.user}"

    @property
    def is_live(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()
