"""Access helpers: every tenant URL resolves its tenant here, strangers get 404.

Membership answers *whether* someone is in a workspace (else 404); django-guardian object
permissions on the tenant answer *what* they may do there (else 403). Both are read from the
database on every request, so a removed member or a changed role counts at once.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from guardian.core import ObjectPermissionChecker

from .models import Membership, Tenant
from .permissions import ACTIONS, CODENAMES, VIEW, perm_name

LAST_TENANT_SESSION_KEY = "pynomaly.tenant"


def get_membership(request: HttpRequest, slug: str) -> Membership:
    """The user's membership in the tenant ``slug``; 404 for non-members and unknown slugs alike."""
    membership = Membership.objects.for_user(request.user).filter(tenant__slug=slug).first()
    if membership is None:
        _record_foreign_tenant_probe(request, slug)
        raise Http404("No such workspace.")
    return membership


def get_tenant_for_member(request: HttpRequest, slug: str) -> Tenant:
    return get_membership(request, slug).tenant


def user_can(user, tenant: Tenant, perm: str) -> bool:
    """Whether ``user`` holds the guardian object permission for action ``perm`` on ``tenant``."""
    return user.has_perm(perm_name(perm), tenant)


def tenant_actions(request: HttpRequest) -> frozenset[str]:
    """Every action (view/create/manage/own) the user may take in ``request.tenant``; once per request."""
    cached = getattr(request, "_tenant_actions", None)
    if cached is not None:
        return cached
    tenant = getattr(request, "tenant", None)
    if tenant is None or not request.user.is_authenticated:
        return frozenset()
    granted = set(ObjectPermissionChecker(request.user).get_perms(tenant))
    actions = frozenset(a for a in ACTIONS if CODENAMES[a] in granted)
    request._tenant_actions = actions
    return actions


def require(request: HttpRequest, perm: str) -> None:
    """Members whose role lacks ``perm`` get 403 (they may know the workspace exists)."""
    if not user_can(request.user, request.tenant, perm):
        raise PermissionDenied(
            f"Your role ({request.membership.get_role_display()}) does not allow this."
        )


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


def audit_access_denied(request: HttpRequest, *, tenant: Tenant | None, target=None) -> None:
    """Record that a signed-in user reached for something foreign; at most once per request."""
    if getattr(request, "_access_denied_recorded", False) or not request.user.is_authenticated:
        return
    from apps.audit.services import audit_record

    request._access_denied_recorded = True
    audit_record(
        action="access.denied",
        actor=request.user,
        tenant=tenant,
        target=target or tenant,
        request=request,
        details={"path": request.path[:300], "method": request.method},
    )


def get_scoped_or_404(request: HttpRequest, queryset, **lookup):
    """The request tenant's object matching ``lookup``; else 404, audited when the object is another tenant's.

    The response is the same 404 either way: only the trail learns that a member reached across.
    """
    obj = queryset.filter(tenant=request.tenant, **lookup).first()
    if obj is not None:
        return obj
    if request.user.is_authenticated:
        try:
            foreign = (
                queryset.model._base_manager.filter(**lookup)
                .exclude(tenant=request.tenant)
                .select_related("tenant")
                .first()
            )
        except (ValueError, OverflowError):  # an id the database cannot hold points at nothing
            foreign = None
        if foreign is not None:
            audit_access_denied(request, tenant=foreign.tenant, target=foreign)
    raise Http404(f"No such {queryset.model._meta.verbose_name}.")


def _record_foreign_tenant_probe(request: HttpRequest, slug: str) -> None:
    # Unknown slugs are not recorded: anyone can type them, and they point at nothing.
    if not request.user.is_authenticated:
        return
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is not None:
        audit_access_denied(request, tenant=tenant)
