"""Detector configuration workflows: the only writers of DetectorConfig and its versions."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from apps.audit.services import audit_record
from apps.tenants.models import Tenant

from .models import DetectorConfig, DetectorConfigVersion


def pipeline_build(
    *,
    detectors: list[tuple[str, dict[str, Any]]],
    combine: str = "average",
    prepare: dict[str, Any] | None = None,
    threshold_kind: str = "contamination",
    threshold_value: float | None = 0.1,
    seed: int = 42,
) -> dict:
    """The engine's ``PipelineConfig.to_dict()`` for these choices (params already validated)."""
    from pynomaly.detect import PipelineConfig, Threshold
    from pynomaly.prepare import PrepareOptions

    config = PipelineConfig(
        detectors=tuple((key, dict(params)) for key, params in detectors),
        combine=combine,
        prepare=PrepareOptions(**(prepare or {})),
        threshold=Threshold(threshold_kind, threshold_value),
        seed=seed,
    )
    return config.to_dict()


@transaction.atomic
def detector_config_create(
    *,
    tenant: Tenant,
    user,
    name: str,
    pipeline: dict,
    description: str = "",
    request: HttpRequest | None = None,
) -> DetectorConfig:
    """A new named configuration with its version 1."""
    config = DetectorConfig.objects.create(
        tenant=tenant, name=name, description=description, created_by=user
    )
    version = DetectorConfigVersion.objects.create(
        tenant=tenant, config=config, number=1, pipeline=pipeline, created_by=user
    )
    audit_record(
        action="detector.created",
        actor=user,
        tenant=tenant,
        target=config,
        request=request,
        details={"name": name, "version": version.number, "detectors": version.detector_keys},
    )
    return config


@transaction.atomic
def detector_config_update(
    *,
    config: DetectorConfig,
    user,
    name: str,
    pipeline: dict,
    description: str = "",
    request: HttpRequest | None = None,
) -> DetectorConfigVersion:
    """Rename/describe in place; a changed pipeline becomes a new version (old runs keep theirs)."""
    pipeline = json.loads(json.dumps(pipeline))  # compare as stored: tuples become lists
    config = DetectorConfig.objects.select_for_update().get(pk=config.pk)
    current = config.current
    changed = []
    if config.name != name or config.description != description:
        config.name, config.description = name, description
        config.save(update_fields=["name", "description", "updated_at"])
        changed.append("name")
    if current is None or current.pipeline != pipeline:
        number = (current.number if current else 0) + 1
        current = DetectorConfigVersion.objects.create(
            tenant=config.tenant, config=config, number=number, pipeline=pipeline, created_by=user
        )
        changed.append("pipeline")
    if changed:
        audit_record(
            action="detector.updated",
            actor=user,
            tenant=config.tenant,
            target=config,
            request=request,
            details={"name": name, "version": current.number, "changed": changed},
        )
    return current


class ConfigInUse(Exception):
    """The configuration cannot be deleted; the message names the run that uses it."""


@transaction.atomic
def detector_config_delete(
    *, config: DetectorConfig, user, request: HttpRequest | None = None
) -> None:
    """Delete a configuration with its versions; refused while any run (finished or not) used it."""
    from apps.runs.models import Run

    config = DetectorConfig.objects.select_for_update().get(pk=config.pk)
    run = Run.objects.filter(detector_version__config=config).order_by("-id").first()
    if run is not None:
        # Finished runs must stay reproducible, so they protect their configuration too.
        raise ConfigInUse(f"{config.name} cannot be deleted: it is used by run #{run.pk}.")
    audit_record(
        action="detector.deleted",
        actor=user,
        tenant=config.tenant,
        target=config,
        request=request,
        details={"name": config.name, "versions": config.versions.count()},
    )
    config.delete()
