"""A member's own arrangement of the workspace overview."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.tenants.models import Tenant


class DashboardLayout(models.Model):
    """The widgets one user sees on one workspace's overview, in order.

    ``widgets`` is a list of ``{"type": ..., "id": ...}`` (``id`` only for widgets about one
    run, monitor or stream), validated by ``apps.dashboard.widgets.clean_widgets`` on every
    write. No row = the default layout of the member's role.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dashboard_layouts"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    widgets = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="one_layout_per_user_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant}"
