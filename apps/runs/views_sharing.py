"""Sharing a run's results with someone outside the workspace, and the shared user's landing page."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.tenants.access import tenant_view
from apps.tenants.permissions import CREATE

from .models import RunShare
from .selectors import get_run_for_member
from .sharing import ShareError, run_share, run_share_revoke, shares_for_user, shares_of_run


class ShareForm(forms.Form):
    email = forms.EmailField(label="E-mail of their Pynomaly account")
    until = forms.DateField(
        required=False,
        label="Until (optional)",
        help_text="The share ends after this day.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def expires_at(self) -> datetime | None:
        """The end of the chosen day in the site's time zone (the share holds through that day)."""
        day = self.cleaned_data["until"]
        if day is None:
            return None
        return datetime.combine(day + timedelta(days=1), time.min, timezone.get_current_timezone())


@tenant_view(perm=CREATE)
def share(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id)
    form = ShareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            made = run_share(
                run=run,
                email=form.cleaned_data["email"],
                expires_at=form.expires_at(),
                actor=request.user,
                request=request,
            )
        except ShareError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Run #{run.pk}'s results are shared with {made.user.email}.")
            return redirect(run.url("share"))
    status = 400 if form.errors else 200
    return render(
        request,
        "runs/share.html",
        {"run": run, "form": form, "shares": shares_of_run(run), "now": timezone.now()},
        status=status,
    )


@require_POST
@tenant_view(perm=CREATE)
def share_revoke(request: HttpRequest, run_id: int, share_id: int) -> HttpResponse:
    run = get_run_for_member(request, run_id)
    found = get_object_or_404(
        RunShare.objects.select_related("run__tenant", "user"), pk=share_id, run=run
    )
    run_share_revoke(share=found, actor=request.user, request=request)
    messages.success(request, f"{found.user.email} can no longer see run #{run.pk}.")
    return redirect(run.url("share"))


@login_required
def shared_with_me(request: HttpRequest) -> HttpResponse:
    return render(request, "runs/shared_with_me.html", {"shares": shares_for_user(request.user)})
