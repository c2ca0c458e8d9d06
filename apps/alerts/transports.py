"""Sending one delivery: e-mail (Django's mail backends), a signed webhook, in-app notices.

Each ``send_*`` returns the response code (webhooks) or None, and raises ``SendFailed`` with
``retry`` saying whether another attempt could succeed.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import urllib3
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string

from apps.common import netguard, secrets
from apps.tenants.consumers import tenant_group
from apps.tenants.models import Membership
from pynomaly import __version__
from pynomaly.client.webhooks import IDEMPOTENCY_HEADER, sign

from . import payloads
from .models import Channel, Delivery, Notification

RETRY_CODES = frozenset({408, 425, 429, 500, 502, 503, 504})


class SendFailed(Exception):
    def __init__(self, message: str, *, code: int | None = None, retry: bool = True):
        super().__init__(message)
        self.code, self.retry = code, retry


# ---------------------------------------------------------------- the network guard
def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a webhook target, or None. The host is checked again at each
    send (apps.common.netguard: loopback, link-local and the metadata address are refused
    unless PYNOMALY_OUTBOUND_ALLOW allows them), and the request goes to the checked address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Give an http:// or https:// URL."
    if parts.username or parts.password:
        return "Put no credentials in the URL; the request is signed instead."
    try:
        netguard.resolve_allowed(parts.hostname, parts.port or (443 if https(parts) else 80))
    except netguard.HostRefused as exc:
        if exc.code == "dns":
            return None  # a name that does not resolve yet may later; each send says why not
        return str(exc.message)
    except ValueError:
        return "The URL's port is not valid."
    return None


def https(parts) -> bool:
    return parts.scheme == "https"


# ---------------------------------------------------------------- webhook
def webhook_body(channel: Channel, payload: dict[str, Any]) -> bytes:
    doc = payloads.slack(payload) if channel.format == Channel.Format.SLACK else payload
    return json.dumps(doc, separators=(",", ":"), default=str).encode()


def send_webhook(delivery: Delivery, payload: dict[str, Any]) -> int:
    channel = delivery.channel
    parts = urlsplit(channel.url)
    tls = https(parts)
    host = parts.hostname or ""
    port = parts.port or (443 if tls else 80)
    try:
        ip = netguard.resolve_allowed(host, port)
        secret = secrets.decrypt(channel.secret_encrypted)
    except netguard.HostRefused as exc:
        raise SendFailed(str(exc.message), retry=exc.code == "dns") from None
    except secrets.SecretUnreadable as exc:
        raise SendFailed(str(exc.message), retry=False) from None
    body = webhook_body(channel, payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Pynomaly-Webhook/{__version__}",
        "Host": parts.netloc.rsplit("@", 1)[-1],
        "X-Pynomaly-Event": payload["event"],
        IDEMPOTENCY_HEADER: payload["idempotency_key"],
        **sign(secret, body),
    }
    timeout = urllib3.Timeout(connect=5.0, read=settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS)
    # Connect to the address that was checked (not a second lookup), with the name for TLS.
    pool: urllib3.HTTPConnectionPool
    if tls:
        pool = urllib3.HTTPSConnectionPool(
            ip, port, timeout=timeout, retries=False, server_hostname=host, assert_hostname=host
        )
    else:
        pool = urllib3.HTTPConnectionPool(ip, port, timeout=timeout, retries=False)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    try:
        response = pool.urlopen(
            "POST", path, body=body, headers=headers, redirect=False, preload_content=True
        )
    except urllib3.exceptions.HTTPError as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from None
    finally:
        pool.close()
    code = response.status
    if 200 <= code < 300:
        return code
    snippet = response.data[:200].decode(errors="replace")
    raise SendFailed(
        f"the receiver answered {code}: {snippet}".strip(),
        code=code,
        retry=code in RETRY_CODES or code >= 500,
    )


# ---------------------------------------------------------------- e-mail
def email_recipients(channel: Channel) -> list[str]:
    addresses = list(channel.recipients)
    if channel.roles:
        addresses += [
            m.user.email
            for m in Membership.objects.filter(tenant=channel.tenant, role__in=channel.roles)
            .select_related("user")
            .order_by("user__email")
            if m.user.email and m.user.is_active
        ]
    return sorted(set(addresses))


def send_email(delivery: Delivery, payload: dict[str, Any]) -> None:
    to = email_recipients(delivery.channel)
    if not to:
        raise SendFailed("this channel has no recipients", retry=False)
    message = EmailMultiAlternatives(
        subject=payloads.headline(payload),
        body=payloads.text(payload),
        to=to,
        headers={
            # Mail clients and our receivers drop a second copy of the same Message-ID.
            "Message-ID": f"<alert-{payload['idempotency_key']}@pynomaly>",
            "X-Pynomaly-Idempotency-Key": payload["idempotency_key"],
        },
        connection=get_connection(timeout=settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS),
    )
    message.attach_alternative(render_to_string("alerts/email.html", {"p": payload}), "text/html")
    try:
        message.send()
    except Exception as exc:  # smtplib.SMTPException, socket errors, backend errors
        raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from None


# ---------------------------------------------------------------- in-app
def send_inapp(delivery: Delivery, payload: dict[str, Any]) -> None:
    """A nudge to every open dashboard of the workspace, then a Notification row per member
    (once per delivery: a re-sent delivery adds none). The nudge goes first because it is what
    a watching member waits for; a page opened meanwhile lists the rows a moment later."""
    tenant = delivery.tenant
    title = payloads.headline(payload).removeprefix("[Pynomaly] ")
    html = render_to_string(
        "alerts/_notification_live.html",
        {"title": title, "link": delivery.alert.url(), "alert": delivery.alert, "payload": payload},
    )
    async_to_sync(get_channel_layer().group_send)(
        tenant_group(tenant.pk), {"type": "notify", "html": html}
    )
    users = [m.user for m in Membership.objects.filter(tenant=tenant).select_related("user")]
    body = payloads.text(payload)
    with transaction.atomic():
        Notification.objects.bulk_create(
            [
                Notification(
                    tenant=tenant,
                    user=u,
                    alert=delivery.alert,
                    delivery=delivery,
                    title=title,
                    body=body,
                    link=delivery.alert.url(),
                )
                for u in users
                if u.is_active
            ],
            ignore_conflicts=True,
        )


SENDERS = {
    Channel.Kind.WEBHOOK: send_webhook,
    Channel.Kind.EMAIL: send_email,
    Channel.Kind.INAPP: send_inapp,
}
