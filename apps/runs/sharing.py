"""Sharing one run's results, read-only, with a user outside its tenant.

The grant is the django-guardian object permission ``runs.view_shared_run`` held by the user
on the run; the ``RunShare`` row says who shared it and until when. Access needs both, checked
on every request, so an expired share stops at once and a revoked one (both removed) too.
Only the read-only results views accept a share (``tenant_or_share_view``); every other URL
of the tenant keeps ``tenant_view`` and answers 404 to the shared user.
"""

from __future__ import annotations

from datetime import datetime
from functools import wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from apps.audit.services import audit_record
from apps.tenants.access import LAST_TENANT_SESSION_KEY, get_membership, require
from apps.tenants.models import Membership
from apps.tenants.permissions import VIEW

from .models import Run, RunShare

SHARE_PERM = "runs.view_shared_run"


class ShareError(Exception):
    """A share request that breaks a rule; the message is meant for the user."""


def _who(user) -> str:
    return user.email or user.get_username()


def _account_for(email: str):
    """The active account using ``email`` (any of its allauth addresses), or None."""
    from allauth.account.models import EmailAddress

    User = get_user_model()
    found = EmailAddress.objects.filter(email__iexact=email).select_related("user").first()
    user = found.user if found is not None else User.objects.filter(email__iexact=email).first()
    return user if user is not None and user.is_active else None


# ---------------------------------------------------------------- services
@transaction.atomic
def run_share(
    *, run: Run, email: str, expires_at: datetime | None, actor, request=None
) -> RunShare:
    """Share ``run``'s results with the account using ``email``; sharing again changes the expiry."""
    email = email.strip()
    if run.status != Run.Status.SUCCEEDED or not run.results:
        raise ShareError("Only a run that finished with results can be shared.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ShareError("The share would already have expired: pick a later date.")
    user = _account_for(email)
    if user is None:
        raise ShareError(f"No account uses {email}. Ask them to sign up first, then share again.")
    if Membership.objects.filter(tenant_id=run.tenant_id, user=user).exists():
        raise ShareError(f"{email} is a member of this workspace and sees its runs already.")
    share, created = RunShare.objects.update_or_create(
        run=run, user=user, defaults={"expires_at": expires_at, "created_by": actor}
    )
    assign_perm(SHARE_PERM, user, run)
    audit_record(
        action="run.shared",
        actor=actor,
        tenant=run.tenant,
        target=run,
        request=request,
        details={
            "email": _who(user),
            "expires_at": expires_at.isoformat() if expires_at else None,
            "renewed": not created,
        },
    )
    return share


@transaction.atomic
def run_share_revoke(*, share: RunShare, actor, request=None) -> None:
    """Take the share back: the shared user's next request answers 404."""
    run, user = share.run, share.user
    remove_perm(SHARE_PERM, user, run)
    audit_record(
        action="run.share_revoked",
        actor=actor,
        tenant=run.tenant,
        target=run,
        request=request,
        details={
            "email": _who(user),
            "expires_at": share.expires_at.isoformat() if share.expires_at else None,
        },
    )
    share.delete()


# ---------------------------------------------------------------- access
def live_share(user, *, tenant_slug: str, run_id: int) -> RunShare | None:
    """The user's unexpired share of run ``run_id`` in tenant ``tenant_slug`` whose permission still holds."""
    if not user.is_authenticated or not user.is_active:
        return None
    share = (
        RunShare.objects.live()
        .select_related("run__tenant", "user")
        .filter(user=user, run_id=run_id, run__tenant__slug=tenant_slug)
        .first()
    )
    if share is None or not user.has_perm(SHARE_PERM, share.run):
        return None
    return share


def shares_for_user(user):
    """Live shares granted to ``user``, newest first (for the "Shared with me" page)."""
    return (
        RunShare.objects.live()
        .filter(user=user)
        .select_related(
            "run__tenant",
            "run__dataset_version__dataset",
            "run__detector_version__config",
            "created_by",
        )
    )


def shares_of_run(run: Run):
    return RunShare.objects.filter(run=run).select_related("user", "created_by")


def tenant_or_share_view(func):
    """Like ``tenant_view`` (VIEW) for members; also admits a live share of the URL's run.

    Only for read-only views of one run's results. Sets ``request.run_share`` (None for members);
    for a shared user ``request.membership`` is None and the helpers in selectors.py restrict every
    lookup to the shared run.
    """

    @login_required
    @wraps(func)
    def wrapper(request: HttpRequest, tenant_slug: str, run_id: int, *args, **kwargs):
        membership = (
            Membership.objects.for_user(request.user).filter(tenant__slug=tenant_slug).first()
        )
        if membership is not None:
            request.tenant, request.membership, request.run_share = (
                membership.tenant,
                membership,
                None,
            )
            request.session[LAST_TENANT_SESSION_KEY] = membership.tenant.slug
            require(request, VIEW)
        else:
            share = live_share(request.user, tenant_slug=tenant_slug, run_id=run_id)
            if share is None:
                get_membership(request, tenant_slug)  # raises the usual 404 (and audits a probe)
            request.tenant, request.membership, request.run_share = share.run.tenant, None, share
        return func(request, run_id, *args, **kwargs)

    return wrapper
