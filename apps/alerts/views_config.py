"""Configuring alerting: channels (admins) and the rules of a monitor or a stream (analysts)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.monitors.models import Monitor
from apps.streams.models import Stream
from apps.tenants.access import get_scoped_or_404, require, tenant_view
from apps.tenants.permissions import CREATE, MANAGE

from . import selectors, services
from .forms import ChannelForm, RuleForm, add_service_errors
from .models import Channel
from .requests import TenantRequest


def _channels_url(request: TenantRequest) -> str:
    return reverse("alerts:channels", kwargs={"tenant_slug": request.tenant.slug})


@tenant_view
def channels(request: TenantRequest) -> HttpResponse:
    form, secret, status = ChannelForm(), None, 200
    if request.method == "POST":
        require(request, MANAGE)
        form = ChannelForm(request.POST)
        if form.is_valid():
            try:
                channel, secret = services.channel_create(
                    tenant=request.tenant, user=request.user, data=form.data_for_service(),
                    request=request,
                )  # fmt: skip
            except services.Invalid as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Channel “{channel.name}” created.")
                if secret is None:
                    return redirect(_channels_url(request))
                form = ChannelForm()
        if form.errors:
            status = 422
    listing = Channel.objects.for_tenant(request.tenant).order_by("name")
    context = {"channels": listing, "form": form, "secret": secret}
    return render(request, "alerts/channels.html", context, status=status)


@tenant_view(perm=MANAGE)
def channel_edit(request: TenantRequest, channel_id: int) -> HttpResponse:
    channel = selectors.get_channel_for_member(request, channel_id)
    form = ChannelForm(channel=channel)
    if request.method == "POST":
        form = ChannelForm(request.POST, channel=channel)
        if form.is_valid():
            try:
                services.channel_update(
                    channel=channel, user=request.user, data=form.data_for_service(),
                    request=request,
                )  # fmt: skip
            except services.Invalid as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Channel saved.")
                return redirect(_channels_url(request))
    status = 422 if form.errors else 200
    return render(
        request, "alerts/channel_edit.html", {"channel": channel, "form": form}, status=status
    )


@require_POST
@tenant_view(perm=MANAGE)
def channel_rotate(request: TenantRequest, channel_id: int) -> HttpResponse:
    channel = selectors.get_channel_for_member(request, channel_id)
    try:
        secret = services.channel_rotate_secret(channel=channel, user=request.user, request=request)
    except services.Invalid as exc:
        messages.error(request, str(exc))
        return redirect(_channels_url(request))
    listing = Channel.objects.for_tenant(request.tenant).order_by("name")
    context = {"channels": listing, "form": ChannelForm(), "secret": secret, "rotated": channel}
    return render(request, "alerts/channels.html", context)


@require_POST
@tenant_view(perm=MANAGE)
def channel_delete(request: TenantRequest, channel_id: int) -> HttpResponse:
    channel = selectors.get_channel_for_member(request, channel_id)
    services.channel_delete(channel=channel, user=request.user, request=request)
    messages.success(request, f"Channel “{channel.name}” deleted.")
    return redirect(_channels_url(request))


def _rules_url(owner: Monitor | Stream) -> str:
    if isinstance(owner, Stream):
        kwargs = {"tenant_slug": owner.tenant.slug, "stream_id": owner.pk}
        return reverse("alerts:stream_rules", kwargs=kwargs)
    return reverse(
        "alerts:rules", kwargs={"tenant_slug": owner.tenant.slug, "monitor_id": owner.pk}
    )


def _rules_page(request: TenantRequest, owner: Monitor | Stream) -> HttpResponse:
    """The rules of a monitor or a stream, and the form for a new one (analysts and up)."""
    form = RuleForm(tenant=request.tenant)
    if request.method == "POST":
        require(request, CREATE)
        form = RuleForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            where = {"stream": owner} if isinstance(owner, Stream) else {"monitor": owner}
            try:
                services.rule_create(
                    **where, user=request.user, data=form.data_for_service(), request=request
                )
            except services.Invalid as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Alert rule created.")
                return redirect(_rules_url(owner))
    listing = owner.alert_rules.prefetch_related("channels").order_by("name")
    context = {
        "owner": owner,
        "owner_kind": "stream" if isinstance(owner, Stream) else "monitor",
        "rules": listing,
        "form": form,
    }
    return render(request, "alerts/rules.html", context, status=422 if form.errors else 200)


@tenant_view
def rules(request: TenantRequest, monitor_id: int) -> HttpResponse:
    monitor = get_scoped_or_404(request, Monitor.objects.select_related("tenant"), pk=monitor_id)
    return _rules_page(request, monitor)


@tenant_view
def stream_rules(request: TenantRequest, stream_id: int) -> HttpResponse:
    stream = get_scoped_or_404(request, Stream.objects.select_related("tenant"), pk=stream_id)
    return _rules_page(request, stream)


@tenant_view(perm=CREATE)
def rule_edit(request: TenantRequest, rule_id: int) -> HttpResponse:
    rule = selectors.get_rule_for_member(request, rule_id)
    form = RuleForm(tenant=request.tenant, rule=rule)
    if request.method == "POST":
        form = RuleForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            try:
                services.rule_update(
                    rule=rule, user=request.user, data=form.data_for_service(), request=request
                )
            except services.Invalid as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Alert rule saved.")
                return redirect(_rules_url(services.rule_owner(rule)))
    status = 422 if form.errors else 200
    owner = services.rule_owner(rule)
    context = {"rule": rule, "form": form, "owner": owner, "rules_url": _rules_url(owner)}
    return render(request, "alerts/rule_edit.html", context, status=status)


@require_POST
@tenant_view(perm=CREATE)
def rule_delete(request: TenantRequest, rule_id: int) -> HttpResponse:
    rule = selectors.get_rule_for_member(request, rule_id)
    owner = services.rule_owner(rule)
    services.rule_delete(rule=rule, user=request.user, request=request)
    messages.success(request, f"Rule “{rule.name}” deleted.")
    return redirect(_rules_url(owner))
