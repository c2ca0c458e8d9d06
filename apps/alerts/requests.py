"""The request the tenant views and API endpoints see: what middleware and auth add to it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest

if TYPE_CHECKING:
    from apps.tenants.models import Membership, Tenant


class TenantRequest(HttpRequest):
    """Set by ``tenant_view`` (or the API's token auth) before the view runs; for typing only."""

    tenant: Tenant
    membership: Membership
    htmx: Any
