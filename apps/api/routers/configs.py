"""Detector configurations: named, versioned pipelines; every edit of the pipeline is a new version."""

from __future__ import annotations

from django.db import IntegrityError
from django.http import HttpRequest
from ninja import Query, Router, Status

from apps.detectors.models import DetectorConfig
from apps.detectors.services import detector_config_create, detector_config_update, pipeline_build
from pynomaly import catalogue
from pynomaly.errors import EngineError, ParamError, UnknownDetector

from ..auth import write_auth
from ..errors import ApiProblem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from ..schemas import ConfigIn, ConfigOut, ConfigPage, ConfigPatch, PipelineIn
from .common import LIMIT_DESCRIPTION, scoped_or_404

router = Router(tags=["detector-configs"])


def config_out(c: DetectorConfig) -> dict:
    versions = sorted(c.versions.all(), key=lambda v: v.number)
    current = versions[-1] if versions else None
    return {
        "id": c.pk,
        "name": c.name,
        "description": c.description,
        "version": current.number if current else None,
        "pipeline": current.pipeline if current else None,
        "versions": [{"number": v.number, "created_at": v.created_at} for v in versions],
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def build_pipeline(pipeline: PipelineIn) -> dict:
    """The engine's pipeline dict, or a 422 naming every bad field (["body", "pipeline", ...])."""
    errors: list[dict] = []
    base = ["body", "pipeline"]
    detectors = []
    for i, item in enumerate(pipeline.detectors):
        loc = [*base, "detectors", i]
        try:
            spec = catalogue.get_detector(item.key)
        except UnknownDetector as exc:
            errors.append({"loc": [*loc, "key"], "msg": str(exc)})
            continue
        if not spec.available:
            errors.append(
                {
                    "loc": [*loc, "key"],
                    "msg": f"{spec.short_name} cannot run here: {spec.unavailable_reason}",
                }
            )
            continue
        if spec.supervised:
            errors.append(
                {
                    "loc": [*loc, "key"],
                    "msg": f"{spec.short_name} needs labels to train; "
                    "Pynomaly's pipelines are unsupervised",
                }
            )
            continue
        raw, bad = {}, False
        for name, value in item.params.items():
            try:
                raw[name] = spec.param(name).coerce(value)
            except ParamError as exc:
                errors.append({"loc": [*loc, "params", name], "msg": exc.message})
                bad = True
            except (TypeError, ValueError, OverflowError) as exc:
                errors.append({"loc": [*loc, "params", name], "msg": f"not a valid value ({exc})"})
                bad = True
        if bad:
            continue
        try:
            detectors.append((spec.key, spec.validate_params(raw)))
        except ParamError as exc:
            errors.append({"loc": [*loc, "params", exc.field], "msg": exc.message})
    if errors:
        raise ApiProblem(422, errors[0]["msg"], errors=errors, title="Validation failed")
    prepare = pipeline.prepare.dict() if pipeline.prepare else None
    threshold = pipeline.threshold
    try:
        return pipeline_build(
            detectors=detectors,
            combine=pipeline.combine,
            prepare=prepare,
            threshold_kind=threshold.kind if threshold else "contamination",
            threshold_value=threshold.value if threshold else 0.1,
            seed=pipeline.seed,
        )
    except ParamError as exc:
        loc = {"threshold": [*base, "threshold", "value"], "combine": [*base, "combine"]}.get(
            exc.field, base
        )
        raise ApiProblem(
            422, exc.message, errors=[{"loc": loc, "msg": exc.message}], title="Validation failed"
        ) from None
    except EngineError as exc:
        raise ApiProblem(
            422,
            str(exc),
            errors=[{"loc": [*base, "prepare"], "msg": str(exc)}],
            title="Validation failed",
        ) from None


def _name_taken(request: HttpRequest, name: str, exclude: int | None = None) -> None:
    taken = DetectorConfig.objects.for_tenant(request.tenant).filter(name__iexact=name)
    if exclude:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        msg = "A configuration with this name exists already."
        raise ApiProblem(
            422, msg, errors=[{"loc": ["body", "name"], "msg": msg}], title="Validation failed"
        )


def _configs(request: HttpRequest):
    return DetectorConfig.objects.for_tenant(request.tenant).prefetch_related("versions")


@router.get("", response=ConfigPage, summary="Configurations, newest first")
def list_configs(
    request: HttpRequest,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
):
    return page(_configs(request), limit=limit, cursor=cursor, serialize=config_out)


@router.post(
    "", auth=write_auth, response={201: ConfigOut}, summary="Create a configuration (version 1)"
)
def create_config(request: HttpRequest, body: ConfigIn):
    _name_taken(request, body.name)
    pipeline = build_pipeline(body.pipeline)
    try:
        config = detector_config_create(
            tenant=request.tenant,
            user=request.user,
            name=body.name,
            description=body.description,
            pipeline=pipeline,
            request=request,
        )
    except IntegrityError:  # a concurrent create took the name
        _name_taken(request, body.name)
        raise
    return Status(201, config_out(config))


@router.get("/{int:config_id}", response=ConfigOut, summary="One configuration with its versions")
def get_config(request: HttpRequest, config_id: int):
    return config_out(
        scoped_or_404(_configs(request), request, config_id, "detector configuration")
    )


@router.patch(
    "/{int:config_id}",
    auth=write_auth,
    response=ConfigOut,
    summary="Rename, describe or change the pipeline (a changed pipeline is a new version)",
)
def update_config(request: HttpRequest, config_id: int, body: ConfigPatch):
    config = scoped_or_404(_configs(request), request, config_id, "detector configuration")
    name = body.name if body.name is not None else config.name
    _name_taken(request, name, exclude=config.pk)
    current = config.current
    pipeline = (
        build_pipeline(body.pipeline)
        if body.pipeline is not None
        else (current.pipeline if current else None)
    )
    if pipeline is None:
        raise ApiProblem(
            422,
            "This configuration has no pipeline yet; send one.",
            errors=[{"loc": ["body", "pipeline"], "msg": "required"}],
        )
    description = body.description if body.description is not None else config.description
    detector_config_update(
        config=config,
        user=request.user,
        name=name,
        description=description,
        pipeline=pipeline,
        request=request,
    )
    return config_out(
        scoped_or_404(_configs(request), request, config_id, "detector configuration")
    )


@router.delete(
    "/{int:config_id}",
    auth=write_auth,
    response={204: None},
    summary="Delete a configuration (refused while runs use it)",
)
def delete_config(request: HttpRequest, config_id: int):
    config = scoped_or_404(DetectorConfig.objects, request, config_id, "detector configuration")
    from apps.detectors.services import ConfigInUse, detector_config_delete

    try:
        detector_config_delete(config=config, user=request.user, request=request)
    except ConfigInUse as exc:
        raise ApiProblem(409, str(exc), title="Configuration in use") from None
    return Status(204, None)
