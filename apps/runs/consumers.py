"""Live run progress over a WebSocket: members of the run's tenant only, HTML pushed in."""

from __future__ import annotations

from channels.db import database_sync_to_async

from apps.tenants.consumers import MemberGroupConsumer
from apps.tenants.models import Membership

from .models import Run
from .services import render_run_progress, run_group


@database_sync_to_async
def _run_for_member(user, slug: str, run_id: int) -> Run | None:
    membership = Membership.objects.for_user(user).filter(tenant__slug=slug).first()
    if membership is None:
        return None
    return (
        Run.objects.for_tenant(membership.tenant).select_related("tenant").filter(pk=run_id).first()
    )


@database_sync_to_async
def _current_state(run_id: int) -> str | None:
    run = Run.objects.select_related("tenant").filter(pk=run_id).first()
    return render_run_progress(run) if run is not None else None


class RunConsumer(MemberGroupConsumer):
    """A run's progress: its tenant's members only; the current state is sent on every connect."""

    async def group_for(self, user, kwargs: dict) -> str | None:
        run = await _run_for_member(user, kwargs["tenant_slug"], kwargs["run_id"])
        if run is None:
            return None
        self.run_id = run.pk
        return run_group(run.pk)

    async def joined(self) -> None:
        html = await _current_state(self.run_id)
        if html:
            await self.send(text_data=html)

    run_progress = MemberGroupConsumer.forward
