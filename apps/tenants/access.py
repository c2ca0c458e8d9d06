"""Access helpers: every tenant URL resolves its tenant here, strangers get 404."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from .models import Membership, Tenant
from .permissions import VIEW, role_allows

LAST_TENANT_SESSION_KEY = "pynomaly.tenant"


def get_membership(request: HttpRequest, slug: str) -> Membership:
    """The user's membership in the tenant ``slug``; 404 for non-members and unknown slugs alike."""
    membership = Membership.objects.for_user(request.user).filter(tenant__slug=slug).first()
    if membership is None:
        raise Http404("No such workspace.")
    return membership


def get_tenant_for_member(request: HttpRequest, slug: str) -> Tenant:
    return get_membership(request, slug).tenant


def require(request: HttpRequest, perm: str) -> None:
    """Members whose role lacks ``perm`` get 403 (they may know the workspace exists)."""
    if not role_allows(request.membership.role, perm):
        raise PermissionDenied(f"Your role ({request.membership.get_role_display()}) does not allow this.")


def tenant_view(view=None, *, perm: str = VIEW):
    """Decorate a view taking ``tenant_slug``: sign-in, membership (else 404), role (else 403).

    Sets ``request.tenant`` and ``request.membership`` for the view.
    """

    def decorate(func):
        @login_required
        @wraps(func)
        def wrapper(request: HttpRequest, tenant_slug: str, *args, **kwargs):
            membership = get_membership(request, tenant_slug)
            request.tenant = membership.tenant
            request.membership = membership
            request.session[LAST_TENANT_SESSION_KEY] = membership.tenant.slug
            require(request, perm)
            return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
