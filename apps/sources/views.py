"""Source pages: thin views over services.py. Admins manage; every member may look."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from apps.tenants.access import get_scoped_or_404, tenant_view
from apps.tenants.permissions import MANAGE

from .forms import SourceForm
from .models import Source
from .selectors import source_versions, sources_for_list
from .services import (
    SourceError,
    SourceInUse,
    source_create,
    source_delete,
    source_preview,
    source_pull_later,
    source_test,
    source_update,
)


def get_source_for_member(request: HttpRequest, source_id: int) -> Source:
    """The source if it belongs to the request's tenant; 404 otherwise (never 403)."""
    return get_scoped_or_404(request, Source.objects.select_related("dataset"), pk=source_id)


def _detail_url(request: HttpRequest, source: Source) -> str:
    return reverse("sources:detail", args=[request.tenant.slug, source.pk])


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def apply_errors(form: SourceForm, exc: ValidationError) -> None:
    """The service's errors on the form's fields (others above the form)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _detail(request: HttpRequest, source: Source, status: int = 200, **extra) -> HttpResponse:
    context = {"source": source, "versions": source_versions(source), **extra}
    template = "sources/detail.html"
    if request.htmx and extra.get("partial"):
        template += "#" + extra["partial"]
    return render(request, template, context, status=status)


@tenant_view
def source_list(request: HttpRequest) -> HttpResponse:
    return render(request, "sources/list.html", {"sources": sources_for_list(request.tenant)})


@tenant_view
def detail(request: HttpRequest, source_id: int) -> HttpResponse:
    return _detail(request, get_source_for_member(request, source_id))


def _save(request: HttpRequest, source: Source | None) -> HttpResponse:
    bound = request.method == "POST"
    form = SourceForm(request.POST if bound else None, instance=source)
    if bound and form.is_valid():
        try:
            if source is None:
                source = source_create(
                    tenant=request.tenant,
                    user=request.user,
                    data=form.service_data(),
                    request=request,
                )
                messages.success(
                    request, f"Source {source.name} created. Test its connection next."
                )
            else:
                source = source_update(
                    source=source, user=request.user, data=form.service_data(), request=request
                )
                messages.success(request, "Source saved.")
            return _redirect(request, _detail_url(request, source))
        except SourceError as exc:
            apply_errors(form, exc)
    context = {"form": form, "source": source}
    return render(request, "sources/form.html", context, status=400 if bound else 200)


@tenant_view(perm=MANAGE)
def create(request: HttpRequest) -> HttpResponse:
    return _save(request, None)


@tenant_view(perm=MANAGE)
def edit(request: HttpRequest, source_id: int) -> HttpResponse:
    return _save(request, get_source_for_member(request, source_id))


@tenant_view(perm=MANAGE)
def delete(request: HttpRequest, source_id: int) -> HttpResponse:
    source = get_source_for_member(request, source_id)
    error = ""
    if request.method == "POST":
        try:
            source_delete(source=source, user=request.user, request=request)
            messages.success(request, f"Source {source.name} deleted; its dataset stays.")
            return _redirect(request, reverse("sources:list", args=[request.tenant.slug]))
        except SourceInUse as exc:
            error = str(exc.message)
    status = 409 if error else 200
    return render(request, "sources/delete.html", {"source": source, "error": error}, status=status)


@tenant_view(perm=MANAGE)
def test_connection(request: HttpRequest, source_id: int) -> HttpResponse:
    source = get_source_for_member(request, source_id)
    if request.method != "POST":
        return redirect(_detail_url(request, source))
    try:
        result = {
            "ok": True,
            "message": source_test(source=source, user=request.user, request=request).message,
        }
    except SourceError as exc:
        result = {"ok": False, "message": exc.messages[0]}
    return _detail(request, source, test=result, partial="source-test")


@tenant_view(perm=MANAGE)
def preview(request: HttpRequest, source_id: int) -> HttpResponse:
    source = get_source_for_member(request, source_id)
    if request.method != "POST":
        return redirect(_detail_url(request, source))
    try:
        shown = source_preview(source=source, user=request.user, request=request)
        return _detail(request, source, preview=shown, partial="source-preview")
    except SourceError as exc:
        return _detail(request, source, preview_error=exc.messages[0], partial="source-preview")


@tenant_view(perm=MANAGE)
def pull(request: HttpRequest, source_id: int) -> HttpResponse:
    source = get_source_for_member(request, source_id)
    if request.method == "POST":
        source_pull_later(source=source, user=request.user, request=request)
        messages.success(
            request, "Pull queued: the new rows become the next version of the source's dataset."
        )
    return _redirect(request, _detail_url(request, source))
