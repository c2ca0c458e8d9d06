"""Streams: records arriving from a broker (or pushed over HTTP) scored as they come.

A stream is a source (Kafka, MQTT, NATS JetStream, Redis Streams, HTTP push), a model (a
trained model of the workspace, or an online learner that learns as it scores) and alert rules
(``apps.alerts.AlertRule.stream``). The stream processor (``manage.py run_streams``, its own
Procfile line) reads, scores in micro-batches, stores the anomalies, a compact per-second
history of scores and the poison messages, and only then commits the broker's offsets.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from apps.tenants.models import TenantOwned


class Stream(TenantOwned):
    class Kind(models.TextChoices):
        REDIS = "redis", "Redis Streams"
        KAFKA = "kafka", "Kafka"
        MQTT = "mqtt", "MQTT"
        NATS = "nats", "NATS JetStream"
        HTTP = "http", "HTTP push"

    class Learner(models.TextChoices):
        MODEL = "model", "A trained model of this workspace"
        HALF_SPACE_TREES = "hst", "Online: Half-Space Trees (learns as it scores)"
        # measured in pynomaly.streaming: 5-20x faster, but linear — outliers one way only
        ONE_CLASS_SVM = "ocsvm", "Online: one-class SVM (fast; for outliers in one direction)"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Where and how to read, per kind (never secrets): e.g. redis {"url", "key", "group"},
    # kafka {"bootstrap_servers", "topic", "group", "security_protocol", "sasl_mechanism",
    # "username"}, mqtt {"host", "port", "topic", "qos"}, nats {"servers", "stream",
    # "subject", "durable"}. HTTP push streams are carried by a Redis stream on the
    # platform's own Redis (so one processor path serves every kind).
    config = models.JSONField(default=dict, blank=True)
    # A broker password / SASL secret, encrypted with apps.common.secrets; never shown back.
    secret_encrypted = models.TextField(blank=True)
    # HTTP push: sha256 of the push token (the token is shown once when created or rotated).
    push_token_hash = models.CharField(max_length=64, blank=True, db_index=True)

    learner = models.CharField(max_length=10, choices=Learner.choices, default=Learner.MODEL)
    model = models.ForeignKey(
        "detectors.TrainedModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Online learners: the feature columns read from each record, and learner parameters.
    columns = models.JSONField(default=list, blank=True)
    learner_params = models.JSONField(default=dict, blank=True)
    threshold = models.FloatField(
        null=True, blank=True, help_text="score threshold; empty = the model's own"
    )
    # Which record field carries the event id (empty: derived from the broker's coordinates)
    # and which carries the event time (empty: the time it was received).
    id_field = models.CharField(max_length=200, blank=True)
    time_field = models.CharField(max_length=200, blank=True)
    batch_size = models.PositiveIntegerField(default=5000)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)

    # Written by the processor after each stored batch (what the pages show).
    records_total = models.BigIntegerField(default=0)
    anomalies_total = models.BigIntegerField(default=0)
    dead_letters_total = models.BigIntegerField(default=0)
    last_record_at = models.DateTimeField(null=True, blank=True)
    # {"lag": int|None, "records_per_second": float, "drift": {column: bool}, "error": str,
    #  "processor": "host:pid", "updated_at": iso} — the processor's latest view.
    state = models.JSONField(default=dict, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="stream_name_unique_per_tenant"
            ),
            models.CheckConstraint(
                condition=~models.Q(learner="model") | models.Q(model__isnull=False),
                name="stream_model_learner_has_a_model",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def url(self) -> str:
        return reverse(
            "streams:detail", kwargs={"tenant_slug": self.tenant.slug, "stream_id": self.pk}
        )


class StreamAnomaly(TenantOwned):
    """A record the stream flagged; one row per (stream, event id) whatever is redelivered."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="anomalies")
    event_id = models.CharField(max_length=200)
    event_time = models.DateTimeField()
    score = models.FloatField()
    severity = models.FloatField()
    # [{"column", "value", "contribution"}] — the top reasons, as on a run's rows.
    reasons = models.JSONField(default=list, blank=True)
    record = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-event_time", "-id"]
        indexes = [models.Index(fields=["stream", "-event_time"])]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "event_id"], name="one_anomaly_per_stream_event"
            )
        ]


class StreamScoreBucket(TenantOwned):
    """The compact history: per stream and second, how many records, how many flagged, scores."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="buckets")
    start = models.DateTimeField()
    records = models.PositiveIntegerField(default=0)
    flagged = models.PositiveIntegerField(default=0)
    score_min = models.FloatField()
    score_max = models.FloatField()
    score_sum = models.FloatField(default=0.0)

    class Meta:
        ordering = ["stream", "start"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "start"], name="one_bucket_per_stream_second")
        ]


class DeadLetter(TenantOwned):
    """A message the stream could not score (bad JSON, wrong types, missing fields), with why."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="dead_letters")
    event_id = models.CharField(max_length=200)
    reason = models.TextField()
    # The raw message, cut at 64 KiB (decoded as UTF-8 with replacement).
    payload = models.TextField()
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "event_id"], name="one_dead_letter_per_stream_event"
            )
        ]
