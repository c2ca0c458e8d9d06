"""Tenant notifications over a WebSocket: members only, server pushes rendered HTML."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from .models import Membership


def tenant_group(tenant_id: int) -> str:
    return f"tenant-{tenant_id}"


@database_sync_to_async
def _membership(user, slug: str):
    return Membership.objects.for_user(user).filter(tenant__slug=slug).first()


class NotificationsConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        slug = self.scope["url_route"]["kwargs"]["tenant_slug"]
        membership = await _membership(user, slug) if user is not None else None
        if membership is None:
            await self.close(code=4403)
            return
        self.group = tenant_group(membership.tenant_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        # Clients send nothing but keep-alive pings; answer so they can tell the socket lives.
        if text_data == "ping":
            await self.send(text_data="pong")

    async def notify(self, event: dict) -> None:
        await self.send(text_data=event["html"])
