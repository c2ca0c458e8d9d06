"""Live run progress over a WebSocket: members of the run's tenant only, HTML pushed in."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.tenants.models import Membership

from .models import Run
from .services import render_run_progress, run_group


@database_sync_to_async
def _run_for_member(user, slug: str, run_id: int) -> Run | None:
    membership = Membership.objects.for_user(user).filter(tenant__slug=slug).first()
    if membership is None:
        return None
    return Run.objects.for_tenant(membership.tenant).select_related("tenant").filter(pk=run_id).first()


@database_sync_to_async
def _current_state(run_id: int) -> str | None:
    run = Run.objects.select_related("tenant").filter(pk=run_id).first()
    return render_run_progress(run) if run is not None else None


class RunConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        run = await _run_for_member(user, kwargs["tenant_slug"], kwargs["run_id"]) if user is not None else None
        if run is None:
            await self.close(code=4403)
            return
        self.group = run_group(run.pk)
        # Join before reading the state, so nothing that happens in between is missed.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        html = await _current_state(run.pk)
        if html:
            await self.send(text_data=html)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if text_data == "ping":
            await self.send(text_data="pong")

    async def run_progress(self, event: dict) -> None:
        await self.send(text_data=event["html"])
