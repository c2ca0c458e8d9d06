"""The invitation link: sign in or sign up with the invited address, then accept once."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from . import services
from .models import Invitation

INVITATION_SESSION_KEY = "pynomaly.invitation"


def pending_invitation_url(request: HttpRequest) -> str | None:
    """Where to land after sign-in or sign-up when an invitation link brought the visitor here."""
    token = request.session.get(INVITATION_SESSION_KEY)
    return reverse("invitation_accept", kwargs={"token": token}) if token else None


@never_cache
def accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = services.invitation_for_token(token)
    if invitation is None:
        raise Http404("No such invitation.")
    if invitation.status != Invitation.Status.PENDING:
        request.session.pop(INVITATION_SESSION_KEY, None)
        return render(
            request,
            "tenants/invitation.html",
            {"invitation": invitation, "invalid": True},
            status=410,
        )
    here = reverse("invitation_accept", kwargs={"token": token})
    if not request.user.is_authenticated:
        request.session[INVITATION_SESSION_KEY] = token
        query = urlencode({"next": here})
        return render(
            request,
            "tenants/invitation.html",
            {
                "invitation": invitation,
                "anonymous": True,
                "login_url": f"{reverse('account_login')}?{query}",
                "signup_url": f"{reverse('account_signup')}?{query}",
            },
        )
    if request.method == "POST":
        try:
            membership = services.invitation_accept(
                invitation=invitation, user=request.user, request=request
            )
        except services.TenantRuleError as exc:
            return render(
                request,
                "tenants/invitation.html",
                {"invitation": invitation, "error": str(exc)},
                status=403,
            )
        request.session.pop(INVITATION_SESSION_KEY, None)
        messages.success(request, f"Welcome to {membership.tenant.name}.")
        return redirect("tenants:dashboard", tenant_slug=membership.tenant.slug)
    return render(request, "tenants/invitation.html", {"invitation": invitation})
