"""Reads for the source pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.datasets.models import DatasetVersion

from .models import Source


def sources_for_list(tenant) -> QuerySet[Source]:
    return Source.objects.for_tenant(tenant).select_related("dataset").order_by("name")


def source_versions(source: Source, limit: int = 10) -> list[DatasetVersion]:
    """The newest versions the source's pulls wrote (its dataset's), newest first."""
    if source.dataset_id is None:
        return []
    return list(
        DatasetVersion.objects.filter(dataset_id=source.dataset_id).order_by("-number")[:limit]
    )
