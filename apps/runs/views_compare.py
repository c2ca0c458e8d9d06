"""Bake-off and leaderboard pages: several detectors on one dataset version, ranked."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.datasets.models import DatasetVersion
from apps.tenants.access import get_scoped_or_404, tenant_view
from apps.tenants.models import Tenant
from apps.tenants.permissions import CREATE

from . import comparison
from .bakeoff import BakeoffForm, bakeoff_start
from .rules import RunInvalid


def get_version_for_member(request: HttpRequest, pk: int, number: int) -> DatasetVersion:
    """The tenant's dataset version ``number`` of dataset ``pk``, or 404."""
    qs = DatasetVersion.objects.select_related("dataset", "tenant")
    return get_scoped_or_404(request, qs, dataset_id=pk, number=number)


def _tenant(request: HttpRequest) -> Tenant:
    return request.tenant  # type: ignore[attr-defined]  # set by tenant_view


def _leaderboard_url(request: HttpRequest, version: DatasetVersion) -> str:
    kwargs = {
        "tenant_slug": _tenant(request).slug,
        "pk": version.dataset_id,
        "number": version.number,
    }
    return reverse("runs:leaderboard", kwargs=kwargs)


@tenant_view(perm=CREATE)
def bakeoff(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    version = get_version_for_member(request, pk, number)
    form = BakeoffForm(request.POST or None, tenant=_tenant(request), version=version)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            runs = bakeoff_start(
                tenant=_tenant(request),
                user=request.user,
                dataset_version=version,
                configs=list(data["configs"]),
                label_column=data["label_column"],
                max_fit_rows=data["max_fit_rows"],
                accept_cost=bool(data["accept_cost"]),
                request=request,
            )
        except RunInvalid as exc:  # the data changed between the form's check and the start
            form.add_error(None, str(exc))
        else:
            ids = ", ".join(f"#{r.pk}" for r in runs)
            messages.success(request, f"Bake-off started: runs {ids} are queued.")
            return redirect(_leaderboard_url(request, version))
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "runs/bakeoff.html", {"form": form, "version": version}, status=status)


@tenant_view
def leaderboard(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    version = get_version_for_member(request, pk, number)
    pending = version.runs.filter(status__in=("queued", "running")).count()  # before ranking
    board = comparison.leaderboard(version)
    context = {"version": version, "board": board, "pending": pending}
    return render(request, "runs/leaderboard.html", context)
