"""Celery tasks for sources: load ids, call the service, nothing else."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from .models import Source
from .services import SourceError, source_pull

logger = logging.getLogger(__name__)


# A pull claims its source (one at a time) and moves the watermark only after the version is
# written, so a redelivered task reads again from where the last finished pull left off.
@shared_task(name="sources.pull", acks_late=True, soft_time_limit=3000, time_limit=3300)
def pull(source_id: int, user_id: int | None = None) -> int | None:
    source = Source.objects.filter(pk=source_id).first()
    if source is None:
        return None
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        version = source_pull(source=source, user=user)
    except SourceError as exc:  # recorded on the source (last_error) and in the audit trail
        logger.info("pull of source %s refused: %s", source_id, exc.message)
        return None
    return version.pk if version else None
