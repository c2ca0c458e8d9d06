"""Analysts' verdicts on rows: list, create, delete (per run and per dataset version), export,
the summary against a run, retrain with feedback, the threshold learned from verdicts."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from apps.datasets.models import DatasetVersion
from apps.feedback import results as feedback_results
from apps.feedback import selectors
from apps.feedback.models import Verdict
from apps.feedback.services import (
    FeedbackError,
    retrain_with_feedback,
    threshold_from_verdicts,
    verdict_record,
)
from apps.runs.models import Run
from apps.runs.services import RunStateError
from apps.tenants.permissions import LABEL
from pynomaly.feedback import held_out

from ..auth import TokenAuth, api_require, write_auth
from ..errors import ApiProblem, field_error
from ..models import Scope
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from ..schemas import RunOut
from .common import LIMIT_DESCRIPTION, scoped_or_404
from .runs import run_out

router = Router(tags=["verdicts"])


class LabelAuth(TokenAuth):
    """A write-scope token whose role may label (checked before the body is read)."""

    def __call__(self, request: HttpRequest):
        token = super().__call__(request)
        if token is not None:
            if token.scope != Scope.WRITE:
                raise PermissionDenied("This token is read-only; create a token with write scope.")
            api_require(request, LABEL)
        return token


label_auth = LabelAuth()


class VerdictIn(Schema):
    row: int = Field(ge=0, description="Row position in the dataset version (the results' row_id)")
    verdict: Literal["anomaly", "normal", "unsure"]
    note: str = Field("", max_length=2000)
    uuid: UUID | None = Field(None, description="Client-made id: sending it again changes nothing")
    made_at: datetime | None = Field(None, description="When it was made (offline devices)")


class VerdictOut(Schema):
    id: int | None
    row: int
    verdict: str | None
    label: int | None
    note: str
    dataset_version_id: int
    run_id: int | None
    uuid: str | None
    made_at: datetime | None
    created_by: str
    created_at: datetime | None
    applied: bool = True
    duplicate: bool = False


class VerdictPage(Schema):
    items: list[VerdictOut]
    next_cursor: str | None


class VerdictSummary(Schema):
    run_id: int
    dataset_version_id: int
    counts: dict[str, int]
    metrics: dict[str, Any]
    held_out_comparison: dict[str, Any] | None


class ThresholdOut(Schema):
    run: RunOut
    threshold: float
    f1: float
    precision: float
    recall: float
    verdicts: int


def verdict_out(v: Verdict, **extra) -> dict:
    return {
        "id": v.pk,
        "row": v.row,
        "verdict": v.verdict,
        "label": v.label,
        "note": v.note,
        "dataset_version_id": v.dataset_version_id,
        "run_id": v.run_id,
        "uuid": str(v.uuid),
        "made_at": v.made_at,
        "created_by": v.created_by.email if v.created_by else "",
        "created_at": v.created_at,
        **extra,
    }


def _run(request: HttpRequest, run_id: int) -> Run:
    return scoped_or_404(
        Run.objects.select_related("dataset_version", "detector_version", "tenant"),
        request,
        run_id,
        "run",
    )


def _version(request: HttpRequest, version_id: int) -> DatasetVersion:
    return scoped_or_404(DatasetVersion.objects.all(), request, version_id, "dataset version")


def _list(request, version: DatasetVersion, limit, cursor, verdict):
    qs = selectors.verdicts_for(version).select_related("created_by")
    if verdict:
        qs = qs.filter(verdict=verdict)
    return page(qs, limit=limit, cursor=cursor, serialize=verdict_out)


def _create(request, version: DatasetVersion, run: Run | None, body: VerdictIn):
    try:
        outcome = verdict_record(
            tenant=request.tenant,
            user=request.user,
            version=version,
            row=body.row,
            verdict=body.verdict,
            note=body.note,
            run=run,
            uuid=body.uuid,
            made_at=body.made_at,
            request=request,
        )
    except FeedbackError as exc:
        raise field_error(["body", exc.field or "row"], str(exc)) from None
    flags = {"applied": outcome.applied, "duplicate": outcome.duplicate}
    if outcome.verdict is None:  # a replay of a change that has since been cleared
        return Status(200, _empty(version, outcome.row, **flags))
    return Status(201 if outcome.applied else 200, verdict_out(outcome.verdict, **flags))


def _empty(version, row, **extra) -> dict:
    return {
        "id": None, "row": row, "verdict": None, "label": None, "note": "",
        "dataset_version_id": version.pk, "run_id": None, "uuid": None, "made_at": None,
        "created_by": "", "created_at": None, **extra,
    }  # fmt: skip


def _delete(request, version: DatasetVersion, row: int) -> HttpResponse:
    verdict = selectors.verdicts_for(version).filter(row=row).first()
    if verdict is None:
        raise ApiProblem(404, f"Row {row} has no verdict.")
    verdict_record(
        tenant=request.tenant, user=request.user, version=version, row=row, verdict="",
        request=request,
    )  # fmt: skip
    return HttpResponse(status=204)


# ---------------------------------------------------------------- per run
@router.get(
    "/runs/{int:run_id}/verdicts",
    response=VerdictPage,
    summary="Verdicts on the run's dataset version",
)
def list_run_verdicts(
    request: HttpRequest,
    run_id: int,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
    verdict: Literal["anomaly", "normal", "unsure"] | None = None,
):
    run = _run(request, run_id)
    return _list(request, run.dataset_version, limit, cursor, verdict)


@router.post(
    "/runs/{int:run_id}/verdicts",
    auth=label_auth,
    response={200: VerdictOut, 201: VerdictOut},
    summary="Mark a row anomaly / normal / unsure (201; 200 when the uuid was seen before)",
)
def create_run_verdict(request: HttpRequest, run_id: int, body: VerdictIn):
    run = _run(request, run_id)
    return _create(request, run.dataset_version, run, body)


@router.delete(
    "/runs/{int:run_id}/verdicts/{int:row}",
    auth=label_auth,
    response={204: None},
    summary="Clear the verdict on a row",
)
def delete_run_verdict(request: HttpRequest, run_id: int, row: int):
    return _delete(request, _run(request, run_id).dataset_version, row)


@router.get(
    "/runs/{int:run_id}/verdicts/export",
    response={200: None},
    summary="Every verdict as CSV or JSON, with its label and whether retrains hold it out",
)
def export_run_verdicts(
    request: HttpRequest,
    run_id: int,
    format: Literal["csv", "json"] = "json",  # noqa: A002
):
    version = _run(request, run_id).dataset_version
    verdicts = list(selectors.verdicts_for(version).select_related("created_by"))
    mask = held_out([v.row for v in verdicts], selectors.holdout_salt(version)).tolist()
    rows = [
        {**verdict_out(v), "held_out": h, "made_at": v.made_at.isoformat(),
         "created_at": v.created_at.isoformat()}
        for v, h in zip(verdicts, mask, strict=True)
    ]  # fmt: skip
    if format == "json":
        import json

        return HttpResponse(
            json.dumps({"dataset_version_id": version.pk, "verdicts": rows}),
            content_type="application/json",
        )
    out = io.StringIO()
    fields = ["row", "verdict", "label", "held_out", "note", "run_id", "made_at", "created_by"]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        if r["note"][:1] in ("=", "+", "-", "@"):
            r["note"] = "'" + r["note"]  # spreadsheet-safe
        writer.writerow(r)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="verdicts-version-{version.pk}.csv"'
    return response


@router.get(
    "/runs/{int:run_id}/verdicts/summary",
    response=VerdictSummary,
    summary="Counts, the run's metrics against the verdicts, and (for a retrain) the held-out comparison",
)
def run_verdict_summary(request: HttpRequest, run_id: int):
    run = _run(request, run_id)
    if run.status != Run.Status.SUCCEEDED or not run.results:
        raise ApiProblem(409, f"Run {run.pk} has no results (status: {run.status}).")
    info = feedback_results.run_feedback(run)
    comparison = info["comparison"]
    if comparison is not None:
        parent = comparison.pop("parent_run")
        comparison.pop("parent_url", None)
        comparison["parent_run_id"] = parent.pk
    return {
        "run_id": run.pk,
        "dataset_version_id": run.dataset_version_id,
        "counts": selectors.verdict_counts(run.dataset_version),
        "metrics": info["metrics"],
        "held_out_comparison": comparison,
    }


@router.post(
    "/runs/{int:run_id}/retrain",
    auth=write_auth,
    response={202: RunOut},
    summary="Retrain with feedback: a new run (parent = this one) trained with the verdicts",
)
def retrain_run(request: HttpRequest, run_id: int):
    run = _run(request, run_id)
    try:
        child = retrain_with_feedback(run=run, user=request.user, request=request)
    except (FeedbackError, RunStateError) as exc:
        raise ApiProblem(409, str(exc), title="Cannot retrain") from None
    return Status(
        202,
        run_out(Run.objects.select_related("dataset_version", "detector_version").get(pk=child.pk)),
    )


@router.post(
    "/runs/{int:run_id}/threshold/from-verdicts",
    auth=write_auth,
    response=ThresholdOut,
    summary="Save the threshold that maximises F1 on the verdicts",
)
def run_threshold_from_verdicts(request: HttpRequest, run_id: int):
    run = _run(request, run_id)
    try:
        run, choice = threshold_from_verdicts(run=run, user=request.user, request=request)
    except FeedbackError as exc:
        raise ApiProblem(409, str(exc), title="Cannot learn a threshold") from None
    return {
        "run": run_out(
            Run.objects.select_related("dataset_version", "detector_version").get(pk=run.pk)
        ),
        "threshold": choice.threshold,
        "f1": choice.f1,
        "precision": choice.precision,
        "recall": choice.recall,
        "verdicts": choice.rows,
    }


# ---------------------------------------------------------------- per dataset version
@router.get(
    "/dataset-versions/{int:version_id}/verdicts",
    response=VerdictPage,
    summary="Verdicts on a dataset version",
)
def list_version_verdicts(
    request: HttpRequest,
    version_id: int,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
    verdict: Literal["anomaly", "normal", "unsure"] | None = None,
):
    return _list(request, _version(request, version_id), limit, cursor, verdict)


@router.post(
    "/dataset-versions/{int:version_id}/verdicts",
    auth=label_auth,
    response={200: VerdictOut, 201: VerdictOut},
    summary="Mark a row of a dataset version",
)
def create_version_verdict(request: HttpRequest, version_id: int, body: VerdictIn):
    return _create(request, _version(request, version_id), None, body)


@router.delete(
    "/dataset-versions/{int:version_id}/verdicts/{int:row}",
    auth=label_auth,
    response={204: None},
    summary="Clear the verdict on a row of a dataset version",
)
def delete_version_verdict(request: HttpRequest, version_id: int, row: int):
    return _delete(request, _version(request, version_id), row)
