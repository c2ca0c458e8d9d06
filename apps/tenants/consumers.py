"""WebSockets: members only; the server pushes rendered HTML into a group, nothing else."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from .models import Membership


def tenant_group(tenant_id: int) -> str:
    return f"tenant-{tenant_id}"


@database_sync_to_async
def _membership(user, slug: str):
    return Membership.objects.for_user(user).filter(tenant__slug=slug).first()


class MemberGroupConsumer(AsyncWebsocketConsumer):
    """Authorise, join one group, forward its HTML. Subclasses say which group (or None: refuse)."""

    group: str | None = None

    async def group_for(self, user, kwargs: dict) -> str | None:
        return None  # refuse unless a subclass names a group this user may join

    async def joined(self) -> None:
        """Called once the socket is open and in its group (e.g. to send the current state)."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        group = (
            await self.group_for(user, self.scope["url_route"]["kwargs"])
            if user is not None
            else None
        )
        if group is None:
            await self.close(code=4403)
            return
        self.group = group
        # Join before anything is read, so nothing that happens in between is missed.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.joined()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        # Clients send nothing but keep-alive pings; answer so they can tell the socket lives.
        if text_data == "ping":
            await self.send(text_data="pong")

    async def forward(self, event: dict) -> None:
        await self.send(text_data=event["html"])


class NotificationsConsumer(MemberGroupConsumer):
    async def group_for(self, user, kwargs: dict) -> str | None:
        membership = await _membership(user, kwargs["tenant_slug"])
        return tenant_group(membership.tenant_id) if membership is not None else None

    notify = MemberGroupConsumer.forward
