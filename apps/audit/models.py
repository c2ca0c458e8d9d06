"""The audit trail: one row per state-changing action, never edited afterwards.

Append-only at two levels: here (saving an existing row, ``delete()``, and queryset
``update()``/``delete()`` raise) and in the database (triggers, see migration 0002), so raw
SQL from the application cannot change the trail either. Below that, a hash chain per tenant
(``seq``, ``prev_hash``, ``hash``; see chain.py) makes a change by the table's owner visible.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove an audit event."""


# Every app records audit events, the tenants app included: audit imports no other app,
# so its queryset carries its own for_tenant rather than inheriting TenantScopedQuerySet.
class AuditEventQuerySet(models.QuerySet):
    def for_tenant(self, tenant) -> AuditEventQuerySet:
        return self.filter(tenant=tenant)

    def update(self, **kwargs):
        raise AppendOnlyError("Audit events cannot be changed.")

    def delete(self):
        raise AppendOnlyError("Audit events cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("Audit events cannot be changed.")

    update.queryset_only = True
    delete.queryset_only = True


class AuditEvent(models.Model):
    # Set before the insert (not auto_now_add) because the hash covers it. UTC (USE_TZ).
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database constraint and DO_NOTHING: deleting a tenant or a user must not touch the
    # trail (SET_NULL would be an UPDATE, which the trigger refuses); the ids stay as they were.
    tenant = models.ForeignKey(
        "tenants.Tenant",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # Kept as text too, so the trail still says who it was after the user is deleted.
    actor_repr = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # The tamper-evident chain of this event's tenant (or of the global events).
    seq = models.PositiveBigIntegerField(editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"])]
        constraints = [
            # One successor per event: a second writer chaining to the same event fails.
            models.UniqueConstraint(fields=["tenant", "seq"], name="audit_chain_seq_unique"),
            models.UniqueConstraint(
                fields=["seq"], condition=Q(tenant__isnull=True), name="audit_global_seq_unique"
            ),
        ]
        base_manager_name = "objects"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_repr or '-'} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events cannot be deleted.")
