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


NAME_TAKEN = "A configuration with this name exists already."

Path = tuple[str | int, ...]


class ConfigInvalid(Exception):
    """A detector configuration that breaks a rule.

    ``errors`` holds ``(path, message)`` pairs; a path names the input as the API's body
    does (``("name",)``, ``("pipeline", "detectors", 0, "params", "n_neighbors")``), or is
    empty for the configuration as a whole. The form and the API only map the paths.
    """

    def __init__(self, errors: list[tuple[Path, str]]):
        super().__init__(errors[0][1])
        self.errors = errors


def detector_config_validate(
    *,
    tenant: Tenant,
    name: str,
    pipeline: dict | None,
    config: DetectorConfig | None = None,
) -> dict | None:
    """The engine's pipeline dict for a named configuration's choices, or ConfigInvalid.

    ``pipeline`` is what a user sent: ``detectors`` (``[{"key", "params"}]`` with raw
    values, coerced here), ``combine``, ``prepare``, ``threshold`` (``{"kind", "value"}``)
    and ``seed``; None checks the name only. ``config`` is the one being edited, whose own
    name is not taken.
    """
    errors: list[tuple[Path, str]] = []
    taken = DetectorConfig.objects.for_tenant(tenant).filter(name__iexact=name)
    if config is not None:
        taken = taken.exclude(pk=config.pk)
    if taken.exists():
        errors.append((("name",), NAME_TAKEN))
    built = None
    if pipeline is not None:
        try:
            built = _pipeline_from_choices(pipeline)
        except ConfigInvalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise ConfigInvalid(errors)
    return built


def _pipeline_from_choices(pipeline: dict) -> dict:
    from pynomaly import catalogue
    from pynomaly.errors import EngineError, ParamError, UnknownDetector

    errors: list[tuple[Path, str]] = []
    detectors = []
    for i, item in enumerate(pipeline.get("detectors") or ()):
        at: Path = ("pipeline", "detectors", i)
        try:
            spec = catalogue.get_detector(item["key"])
        except UnknownDetector as exc:
            errors.append(((*at, "key"), str(exc)))
            continue
        if not spec.available:
            msg = f"{spec.short_name} cannot run here: {spec.unavailable_reason}"
            errors.append(((*at, "key"), msg))
            continue
        raw, bad = {}, False
        for param, value in (item.get("params") or {}).items():
            try:
                raw[param] = spec.param(param).coerce(value)
            except ParamError as exc:
                errors.append(((*at, "params", param), exc.message))
                bad = True
            except (TypeError, ValueError, OverflowError) as exc:
                errors.append(((*at, "params", param), f"not a valid value ({exc})"))
                bad = True
        if bad:
            continue
        try:
            detectors.append((spec.key, spec.validate_params(raw)))
        except ParamError as exc:
            errors.append(((*at, "params", exc.field), exc.message))
    if errors:
        raise ConfigInvalid(errors)
    threshold = pipeline.get("threshold") or {"kind": "contamination", "value": 0.1}
    try:
        return pipeline_build(
            detectors=detectors,
            combine=pipeline.get("combine", "average"),
            prepare=pipeline.get("prepare"),
            threshold_kind=threshold.get("kind", "contamination"),
            threshold_value=threshold.get("value"),
            seed=pipeline.get("seed", 42),
        )
    except ParamError as exc:
        at = {"threshold": ("pipeline", "threshold", "value"), "combine": ("pipeline", "combine")}
        raise ConfigInvalid([(at.get(exc.field, ("pipeline",)), exc.message)]) from None
    except EngineError as exc:
        raise ConfigInvalid([(("pipeline", "prepare"), str(exc))]) from None


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


AUTOMATIC_NAME = "Automatic"


def automatic_pipeline() -> dict:
    """The pipeline of the Automatic configuration: ``auto``, with the automatic threshold."""
    return pipeline_build(detectors=[("auto", {})], threshold_kind="auto", threshold_value=None)


@transaction.atomic
def detector_config_automatic(
    *, tenant: Tenant, user, request: HttpRequest | None = None
) -> DetectorConfig:
    """The workspace's Automatic configuration, created (and audited) the first time."""
    for config in DetectorConfig.objects.for_tenant(tenant).filter(
        name__istartswith=AUTOMATIC_NAME
    ):
        current = config.current
        if current is not None and current.detector_keys == ["auto"]:
            return config
    name, n = AUTOMATIC_NAME, 1
    while DetectorConfig.objects.for_tenant(tenant).filter(name__iexact=name).exists():
        n += 1
        name = f"{AUTOMATIC_NAME} ({n})"
    return detector_config_create(
        tenant=tenant,
        user=user,
        name=name,
        pipeline=automatic_pipeline(),
        description="Pynomaly chooses and combines detectors from the data (and training "
        "labels, when given), and says why on the run page.",
        request=request,
    )


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
    from apps.monitors.models import Monitor

    monitor = Monitor.objects.filter(detector_version__config=config).order_by("name").first()
    if monitor is not None:
        raise ConfigInUse(f"{config.name} cannot be deleted: monitor “{monitor.name}” uses it.")
    audit_record(
        action="detector.deleted",
        actor=user,
        tenant=config.tenant,
        target=config,
        request=request,
        details={"name": config.name, "versions": config.versions.count()},
    )
    config.delete()
