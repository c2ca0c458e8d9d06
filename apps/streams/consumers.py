"""A stream's live page over a WebSocket: its tenant's members only; the processor's JSON forwarded.

Channels delivers at most once, so on every (re)connect the consumer first sends the stored
state (recent per-second score buckets, the latest anomalies, the figures) with
``"reset": true``; the processor's messages after it only add to that.
"""

from __future__ import annotations

import json

from channels.db import database_sync_to_async

from apps.tenants.consumers import MemberGroupConsumer
from apps.tenants.models import Membership

from .groups import stream_group
from .models import Stream
from .selectors import live_state


@database_sync_to_async
def _stream_for_member(user, slug: str, stream_id: int) -> Stream | None:
    membership = Membership.objects.for_user(user).filter(tenant__slug=slug).first()
    if membership is None:
        return None
    return Stream.objects.for_tenant(membership.tenant).filter(pk=stream_id).first()


@database_sync_to_async
def _state(stream_id: int) -> str | None:
    stream = Stream.objects.select_related("model").filter(pk=stream_id).first()
    return json.dumps(live_state(stream)) if stream is not None else None


class StreamConsumer(MemberGroupConsumer):
    async def group_for(self, user, kwargs: dict) -> str | None:
        stream = await _stream_for_member(user, kwargs["tenant_slug"], kwargs["stream_id"])
        if stream is None:
            return None
        self.stream_id = stream.pk
        return stream_group(stream.pk)

    async def joined(self) -> None:
        text = await _state(self.stream_id)
        if text:
            await self.send(text_data=text)

    async def stream_update(self, event: dict) -> None:
        message = {k: v for k, v in event.items() if k != "type"}
        await self.send(text_data=json.dumps(message))
