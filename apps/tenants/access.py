"""Access helpers: every tenant URL resolves its tenant here, strangers get 404."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest

from .models import Membership, Tenant

LAST_TENANT_SESSION_KEY = "pynomaly.tenant"


def get_membership(request: HttpRequest, slug: str) -> Membership:
    """The user's membership in the tenant ``slug``; 404 for non-members and unknown slugs alike."""
    membership = Membership.objects.for_user(request.user).filter(tenant__slug=slug).first()
    if membership is None:
        raise Http404("No such workspace.")
    return membership


def get_tenant_for_member(request: HttpRequest, slug: str) -> Tenant:
    return get_membership(request, slug).tenant


def tenant_view(view):
    """Decorate a view taking ``tenant_slug``: signs in, resolves membership, sets request.tenant."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, tenant_slug: str, *args, **kwargs):
        membership = get_membership(request, tenant_slug)
        request.tenant = membership.tenant
        request.membership = membership
        request.session[LAST_TENANT_SESSION_KEY] = membership.tenant.slug
        return view(request, *args, **kwargs)

    return wrapper
