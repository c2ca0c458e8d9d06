"""Stream pages: thin views over services.py. Admins manage, pause and resume; every member may look."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.alerts.requests import TenantRequest
from apps.tenants.access import tenant_view
from apps.tenants.permissions import MANAGE

from .config import address
from .forms import StreamForm
from .models import Stream
from .selectors import (
    dead_letters,
    get_stream_for_member,
    latest_anomalies,
    stats,
    streams_for_list,
)
from .services import (
    StreamError,
    stream_create,
    stream_delete,
    stream_pause,
    stream_resume,
    stream_rotate_token,
    stream_update,
)


def _redirect(request: TenantRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _detail(
    request: TenantRequest, stream: Stream, *, push_token: str | None = None
) -> HttpResponse:
    context = {
        "stream": stream,
        "address": address(stream),
        "stats": stats(stream),
        "anomalies": latest_anomalies(stream),
        "dead_letters": dead_letters(stream),
        "push_token": push_token,
        "push_url": request.build_absolute_uri(
            reverse("api-v1:push_events", kwargs={"stream_id": stream.pk})
        ),
        "ws_path": f"/ws/t/{request.tenant.slug}/streams/{stream.pk}/",
        "rules": stream.alert_rules.count(),
    }
    return render(request, "streams/detail.html", context)


@tenant_view
def stream_list(request: TenantRequest) -> HttpResponse:
    streams = [(s, stats(s)) for s in streams_for_list(request.tenant)]
    return render(request, "streams/list.html", {"streams": streams})


@tenant_view
def detail(request: TenantRequest, stream_id: int) -> HttpResponse:
    return _detail(request, get_stream_for_member(request, stream_id))


def _save(request: TenantRequest, stream: Stream | None) -> HttpResponse:
    bound = request.method == "POST"
    # The kind changed over HTMX: what was typed so far comes along as the new form's initial.
    initial = {k: v for k, v in request.GET.items() if k != "kind"} if request.htmx else None
    form = StreamForm(
        request.POST if bound else None,
        tenant=request.tenant,
        instance=stream,
        kind=request.GET.get("kind"),
        **({"initial": initial} if initial and stream is None else {}),
    )
    if bound and form.is_valid():
        try:
            if stream is None:
                stream, token = stream_create(
                    tenant=request.tenant, user=request.user, data=form.service_data(),
                    request=request,
                )  # fmt: skip
                messages.success(request, f"Stream {stream.name} created.")
                if token:  # shown once, on this answer only
                    return _detail(request, stream, push_token=token)
            else:
                stream = stream_update(
                    stream=stream, user=request.user, data=form.service_data(), request=request
                )
                messages.success(request, "Stream saved.")
            return _redirect(request, stream.url())
        except StreamError as exc:
            form.apply_errors(exc)
    template = "streams/form.html"
    if request.htmx and not bound:
        template += "#stream-form"  # the kind changed: the form with that kind's fields
    context = {"form": form, "stream": stream}
    return render(request, template, context, status=400 if bound else 200)


@tenant_view(perm=MANAGE)
def create(request: TenantRequest) -> HttpResponse:
    return _save(request, None)


@tenant_view(perm=MANAGE)
def edit(request: TenantRequest, stream_id: int) -> HttpResponse:
    return _save(request, get_stream_for_member(request, stream_id))


@tenant_view(perm=MANAGE)
def delete(request: TenantRequest, stream_id: int) -> HttpResponse:
    stream = get_stream_for_member(request, stream_id)
    if request.method == "POST":
        stream_delete(stream=stream, user=request.user, request=request)
        messages.success(request, f"Stream {stream.name} deleted with its anomalies and history.")
        return _redirect(request, reverse("streams:list", args=[request.tenant.slug]))
    return render(request, "streams/delete.html", {"stream": stream})


@require_POST
@tenant_view(perm=MANAGE)
def pause(request: TenantRequest, stream_id: int) -> HttpResponse:
    stream = stream_pause(
        stream=get_stream_for_member(request, stream_id), user=request.user, request=request
    )
    messages.success(request, "Stream paused: its records wait in the broker until resumed.")
    return _redirect(request, stream.url())


@require_POST
@tenant_view(perm=MANAGE)
def resume(request: TenantRequest, stream_id: int) -> HttpResponse:
    stream = stream_resume(
        stream=get_stream_for_member(request, stream_id), user=request.user, request=request
    )
    messages.success(request, "Stream resumed.")
    return _redirect(request, stream.url())


@require_POST
@tenant_view(perm=MANAGE)
def rotate_token(request: TenantRequest, stream_id: int) -> HttpResponse:
    stream = get_stream_for_member(request, stream_id)
    try:
        token = stream_rotate_token(stream=stream, user=request.user, request=request)
    except StreamError as exc:
        messages.error(request, exc.messages[0])
        return redirect(stream.url())
    messages.success(request, "New push token: the old one no longer works.")
    return _detail(request, stream, push_token=token)
