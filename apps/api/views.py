"""Token pages in the workspace settings: list my tokens, create one (shown once), revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.tenants.access import tenant_view

from .forms import TokenForm
from .models import ApiToken
from .services import TokenError, token_create, token_revoke


def _my_tokens(request: HttpRequest):
    return ApiToken.objects.filter(user=request.user, tenant=request.tenant)


def _page(
    request: HttpRequest, form: TokenForm, *, new_token: str = "", status: int = 200
) -> HttpResponse:
    context = {"form": form, "tokens": _my_tokens(request), "new_token": new_token}
    return render(request, "api/tokens.html", context, status=status)


@never_cache  # the page that shows a new token must not be kept by the browser or the service worker
@tenant_view
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    data = form.cleaned_data
    try:
        _, raw = token_create(
            user=request.user,
            tenant=request.tenant,
            name=data["name"],
            scope=data["scope"],
            expires_in_days=data["expires_in_days"],
            request=request,
        )
    except TokenError as exc:
        form.add_error(None, str(exc))
        return _page(request, form, status=400)
    return _page(request, TokenForm(), new_token=raw)


@require_POST
@tenant_view
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(_my_tokens(request), pk=pk)  # only my own tokens, in this workspace
    try:
        token_revoke(token=token, actor=request.user, request=request)
        messages.success(request, f"Token “{token.name}” revoked; it stops working at once.")
    except TokenError as exc:
        messages.error(request, str(exc))
    return redirect("api_tokens:list", tenant_slug=request.tenant.slug)
