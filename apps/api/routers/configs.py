"""Detector configurations: named, versioned pipelines; every edit of the pipeline is a new version."""

from __future__ import annotations

from django.db import IntegrityError
from django.http import HttpRequest
from ninja import Query, Router, Status

from apps.detectors.models import DetectorConfig
from apps.detectors.services import (
    ConfigInvalid,
    detector_config_create,
    detector_config_update,
    detector_config_validate,
)

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


def _invalid(exc: ConfigInvalid) -> ApiProblem:
    """The service's errors as a 422 naming every bad field (["body", "pipeline", ...])."""
    errors = [{"loc": ["body", *path], "msg": msg} for path, msg in exc.errors]
    return ApiProblem(422, errors[0]["msg"], errors=errors, title="Validation failed")


def _validated(
    request: HttpRequest, name: str, pipeline: PipelineIn | None, config=None
) -> dict | None:
    try:
        return detector_config_validate(
            tenant=request.tenant,
            name=name,
            pipeline=pipeline.model_dump() if pipeline is not None else None,
            config=config,
        )
    except ConfigInvalid as exc:
        raise _invalid(exc) from None


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
    pipeline = _validated(request, body.name, body.pipeline)
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
        _validated(request, body.name, None)
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
    pipeline = _validated(request, name, body.pipeline, config)
    if pipeline is None and config.current is not None:
        pipeline = config.current.pipeline
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
