"""Who the token acts for, and the workspaces its user belongs to."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from apps.tenants.models import Membership

from ..schemas import MeOut, TenantList

router = Router(tags=["me"])


@router.get("/me", response=MeOut, summary="The token's user, workspace, role and scope")
def me(request: HttpRequest):
    token, membership = request.api_token, request.membership
    return {
        "id": request.user.pk,
        "email": request.user.email,
        "tenant": {"slug": membership.tenant.slug, "name": membership.tenant.name},
        "role": membership.role,
        "scope": token.scope,
        "token_expires_at": token.expires_at,
    }


@router.get(
    "/tenants", response=TenantList, summary="The user's workspaces (a token works in its own only)"
)
def tenants(request: HttpRequest):
    memberships = Membership.objects.for_user(request.user).order_by("tenant__name")
    return {
        "items": [
            {"slug": m.tenant.slug, "name": m.tenant.name, "role": m.role} for m in memberships
        ]
    }
