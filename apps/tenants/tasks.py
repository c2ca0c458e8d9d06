"""Tenant notifications pushed from background work to every open page of the tenant."""

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer
from django.template.loader import render_to_string

from .consumers import tenant_group
from .models import Tenant


def notify_tenant(tenant: Tenant, message: str, *, level: str = "info") -> None:
    """Send a rendered notice to the tenant's sockets; a page that misses it loses nothing."""
    html = render_to_string("components/_notification.html", {"message": message, "level": level})
    async_to_sync(get_channel_layer().group_send)(
        tenant_group(tenant.pk), {"type": "notify", "html": html}
    )


@shared_task(name="tenants.notify", time_limit=30, soft_time_limit=20)
def notify_tenant_task(tenant_id: int, message: str, level: str = "info") -> None:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is not None:
        notify_tenant(tenant, message, level=level)
