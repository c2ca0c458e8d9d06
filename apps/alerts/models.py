"""Alert rules on a monitor, the alerts they raise, the channels that carry them, deliveries."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

from apps.tenants.models import Role, TenantOwned, TenantScopedQuerySet


class Match(models.TextChoices):
    ALL = "all", "All conditions"
    ANY = "any", "Any condition"


class Channel(TenantOwned):
    """Where alerts go: e-mail, a webhook (signed), or in-app notifications to every member."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"
        INAPP = "inapp", "In-app notification"

    class Format(models.TextChoices):
        JSON = "json", "JSON (Pynomaly)"
        SLACK = "slack", "Slack-compatible"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    # e-mail: addresses, and/or every member holding one of these roles
    recipients = models.JSONField(default=list, blank=True)
    roles = models.JSONField(default=list, blank=True)
    # webhook
    url = models.URLField(max_length=2000, blank=True)
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.JSON)
    # HMAC secret, encrypted at rest (apps.common.secrets); shown once when created or rotated.
    secret_encrypted = models.TextField(blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"], name="channel_name_unique_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def target(self) -> str:
        if self.kind == self.Kind.WEBHOOK:
            return self.url
        if self.kind == self.Kind.EMAIL:
            return ", ".join([*self.recipients, *(f"every {r}" for r in self.roles)])
        return "every member"


class AlertRule(TenantOwned):
    """Conditions on a monitor's execution or a stream's window; all/any; notifies its channels.

    Exactly one of ``monitor`` / ``stream``. A stream's rule is checked on each closed window
    of the stream (``AlertTrigger.stream_window``) as a monitor's is on each execution.
    """

    monitor = models.ForeignKey(
        "monitors.Monitor",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
    )
    stream = models.ForeignKey(
        "streams.Stream",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
    )
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    min_anomalies = models.PositiveIntegerField(null=True, blank=True)
    min_severity = models.FloatField(null=True, blank=True)
    min_flagged_share = models.FloatField(null=True, blank=True)
    on_drift = models.BooleanField(default=False)
    on_failure = models.BooleanField(default=False)
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ANY)
    # While an alert of this rule is open, new matches are counted on it; they notify again
    # only once the cool-down since its last notification is over.
    cooldown_seconds = models.PositiveIntegerField(default=3600)
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["monitor", "stream", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["monitor", "name"], name="rule_name_unique_per_monitor"
            ),
            models.UniqueConstraint(fields=["stream", "name"], name="rule_name_unique_per_stream"),
            models.CheckConstraint(
                condition=models.Q(monitor__isnull=False, stream__isnull=True)
                | models.Q(monitor__isnull=True, stream__isnull=False),
                name="rule_watches_monitor_or_stream",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def conditions(self) -> list[str]:
        """The conditions in words, for pages and messages."""
        out = []
        if self.min_anomalies is not None:
            out.append(f"anomalies ≥ {self.min_anomalies}")
        if self.min_severity is not None:
            out.append(f"max severity ≥ {self.min_severity:g}")
        if self.min_flagged_share is not None:
            out.append(f"flagged share ≥ {self.min_flagged_share:.2%}")
        if self.on_drift:
            out.append("drift detected")
        if self.on_failure:
            out.append("execution failed")
        return out


class AlertQuerySet(TenantScopedQuerySet):
    def unresolved(self) -> AlertQuerySet:
        return self.exclude(state=Alert.State.RESOLVED)


class Alert(TenantOwned):
    """One incident of a rule: the executions that matched while it was open are counted on it."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    # The rule's monitor or stream (one of them), kept here for lists and filters.
    monitor = models.ForeignKey(
        "monitors.Monitor", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    stream = models.ForeignKey(
        "streams.Stream", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    title = models.CharField(max_length=300)
    reasons = models.JSONField(default=list, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    last_notified_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AlertQuerySet.as_manager()  # type: ignore[misc]  # narrows TenantOwned's manager

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["tenant", "state", "-last_seen_at"])]

    def __str__(self) -> str:
        return self.title

    def url(self) -> str:
        return reverse(
            "alerts:detail", kwargs={"tenant_slug": self.tenant.slug, "alert_id": self.pk}
        )

    @property
    def snoozed(self) -> bool:
        from django.utils import timezone

        return self.is_snoozed(timezone.now())

    def is_snoozed(self, now) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > now


class AlertTrigger(TenantOwned):
    """One execution (or stream window) matching one rule: at most one each, whatever re-sends."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="triggers")
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="triggers")
    execution = models.ForeignKey(
        "monitors.MonitorExecution",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_triggers",
    )
    # A stream rule's match: the start of the stream's window that matched.
    stream_window = models.DateTimeField(null=True, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    # Whether this match was sent to the channels (False: counted during the cool-down,
    # while acknowledged or snoozed).
    notified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "execution"], name="one_trigger_per_rule_and_execution"
            ),
            models.UniqueConstraint(
                fields=["rule", "stream_window"], name="one_trigger_per_rule_and_stream_window"
            ),
        ]


class Delivery(TenantOwned):
    """One notification of one trigger to one channel; its attempts are DeliveryAttempt rows.

    The idempotency key travels in the payload and the ``Idempotency-Key`` header, so a
    receiver that sees it twice (a worker killed after sending, before recording) drops it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Waiting to retry"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    TERMINAL = (Status.DELIVERED, Status.FAILED)

    trigger = models.ForeignKey(AlertTrigger, on_delete=models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)  # when the message was last enqueued
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["trigger", "channel"], name="one_delivery_per_trigger_and_channel"
            )
        ]


class DeliveryAttempt(TenantOwned):
    """One try of a delivery: the delivery log on the alert's page."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted (worker lost)"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SENDING)
    started_at = models.DateTimeField()
    latency_ms = models.FloatField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Who sends it (apps.common.claims): a redelivered task can tell a dead sender at once.
    holder_host = models.CharField(max_length=255, blank=True)
    holder_pid = models.PositiveIntegerField(null=True, blank=True)
    holder_started = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_unique")
        ]


class Notification(TenantOwned):
    """An in-app notice for one member; unread ones are listed on the dashboard."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_notifications"
    )
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "tenant", "read_at"])]
        constraints = [
            # a re-delivered in-app notice does not notify a member twice
            models.UniqueConstraint(
                fields=["delivery", "user"], name="one_notification_per_delivery_and_user"
            )
        ]


ROLE_CHOICES = Role.choices
