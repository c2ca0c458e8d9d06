"""Staff sign in to the admin through allauth's form: rate-limited, audited, two-factor aware."""

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


def admin_login(request: HttpRequest) -> HttpResponse:
    """Replace the admin's sign-in form, which no rate limit or second factor covers."""
    target = request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:index")
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return redirect(target)
        # not a bare 403: say whose account this is and how an operator gets a staff one
        return render(request, "errors/admin_staff_only.html", status=403)
    return redirect(f"{reverse('account_login')}?{urlencode({'next': target})}")
