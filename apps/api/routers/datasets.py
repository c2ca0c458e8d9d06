"""Datasets: upload (multipart or streamed body), list, detail, versions, profile, delete."""

from __future__ import annotations

from pathlib import Path

from django.core.files.uploadedfile import TemporaryUploadedFile
from django.http import HttpRequest, HttpResponse
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile

from apps.datasets.models import Dataset, DatasetVersion
from apps.datasets.services import (
    DatasetInUse,
    UploadRefused,
    dataset_delete,
    dataset_upload,
    upload_refused,
)
from apps.datasets.uploads import max_upload_bytes, too_large_message

from ..auth import write_auth
from ..errors import ApiProblem, field_error, problem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from ..schemas import DatasetOut, DatasetPage, VersionList
from .common import LIMIT_DESCRIPTION, MAX_ID, scoped_or_404

router = Router(tags=["datasets"])
STREAM_CHUNK = 1 << 20


def version_out(v: DatasetVersion) -> dict:
    return {
        "id": v.pk,
        "number": v.number,
        "rows": v.rows,
        "columns": v.columns,
        "schema": v.schema,
        "time_column": v.time_column,
        "sha256": v.sha256,
        "size": v.size,
        "original_name": v.original_name,
        "format": v.format,
        "kind": v.kind,
        "graph": v.graph or None,
        "created_at": v.created_at,
    }


def dataset_out(d: Dataset) -> dict:
    latest = d.latest_version
    uploads = d.uploads.order_by("-created_at", "-id")[:5]
    return {
        "id": d.pk,
        "name": d.name,
        "status": d.status,
        "error": d.error,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "latest_version": version_out(latest) if latest else None,
        "uploads": [
            {"id": u.pk, "status": u.status, "error": u.error, "created_at": u.created_at}
            for u in uploads
        ],
    }


def too_large(request: HttpRequest) -> HttpResponse:
    """413 for a body the upload handler stopped (or the stream outgrew), audited like the browser's."""
    message = too_large_message()
    if getattr(request, "tenant", None) is not None:
        upload_refused(
            tenant=request.tenant,
            user=request.user,
            filename="",
            name=request.GET.get("name", ""),
            message=message,
            reason="too_large",
            request=request,
        )
    response = problem(413, message, title="Request too large")
    response["Connection"] = "close"
    return response


def _upload(request: HttpRequest, uploaded_file, name: str, edges=None) -> Dataset:
    try:
        up = dataset_upload(
            tenant=request.tenant,
            user=request.user,
            uploaded_file=uploaded_file,
            name=name,
            request=request,
            edges_file=edges,
        )
    except UploadRefused as exc:
        loc = ["body", "name"] if exc.code == "name" else ["body", "file"]
        status = 413 if exc.code == "too_large" else 422
        raise ApiProblem(
            status, exc.message, errors=[{"loc": loc, "msg": exc.message}], title="Upload refused"
        ) from None
    return up.dataset


@router.post(
    "",
    auth=write_auth,
    response={202: DatasetOut},
    by_alias=True,
    summary="Upload a file (multipart); ingestion runs in the background",
    description="A graph: `file` holds the nodes (id + features) and `edges` the edges "
    "(source, target, optional weight), or `file` is one .zip holding nodes.csv and "
    "edges.csv. A graph is checked before it is accepted (422 with counts for edges to "
    "unknown nodes, self-loops, repeated edges, or over the node/edge limits).",
)
def upload(
    request: HttpRequest,
    file: File[UploadedFile],
    name: Form[str] = "",
    edges: UploadedFile | None = File(None),  # noqa: B008 - ninja's marker for an optional file
):
    if getattr(request, "upload_too_large", False):
        return too_large(request)
    if "\x00" in name:
        raise field_error(["form", "name"], "must not contain NUL characters")
    return Status(202, dataset_out(_upload(request, file, name, edges)))


@router.put(
    "/stream",
    auth=write_auth,
    response={202: DatasetOut},
    by_alias=True,
    summary="Upload a file as the raw request body (streamed to disk; for large files)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
def upload_stream(
    request: HttpRequest, name: str = "", filename: str = Query("upload", max_length=255)
):
    """Send the file itself as the body (`Content-Type: application/octet-stream`); `filename`
    gives its format by extension (`.csv`, `.parquet`, …) and `name` the dataset's name. The
    body is written to disk as it arrives, so files larger than memory work; over the upload
    limit it answers 413 without reading on. Ingestion continues on a worker, as for the
    multipart upload.
    """
    for label, value in (("name", name), ("filename", filename)):
        if "\x00" in value:
            raise field_error(["query", label], "must not contain NUL characters")
    limit = max_upload_bytes()
    length = request.META.get("CONTENT_LENGTH")
    if length and length.isdigit() and int(length) > limit:
        return too_large(request)
    upload = TemporaryUploadedFile(
        Path(filename).name or "upload", "application/octet-stream", 0, None
    )
    try:
        received = 0
        while chunk := request.read(STREAM_CHUNK):
            received += len(chunk)
            if received > limit:
                return too_large(request)
            upload.write(chunk)
        upload.flush()
        upload.size = received
        upload.seek(0)
        return Status(202, dataset_out(_upload(request, upload, name)))
    finally:
        upload.close()  # deletes the temporary file; the service keeps its own stored copy


@router.get("", response=DatasetPage, by_alias=True, summary="Datasets, newest first")
def list_datasets(
    request: HttpRequest,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=LIMIT_DESCRIPTION),
    cursor: str | None = Query(None, max_length=2000),
    status: str | None = None,
):
    """Each dataset with its status (`ingesting`, `ready`, `failed`) and its latest version (rows,
    columns).
    """
    qs = Dataset.objects.for_tenant(request.tenant)
    if status:
        qs = qs.filter(status=status)
    return page(qs, limit=limit, cursor=cursor, serialize=dataset_out)


@router.get(
    "/{int:dataset_id}",
    response=DatasetOut,
    by_alias=True,
    summary="One dataset with its latest version and uploads",
)
def get_dataset(request: HttpRequest, dataset_id: int):
    """Poll this after an upload until `status` is `ready` (or `failed`, with `error`); the latest
    version's rows and columns and the uploads are included.
    """
    return dataset_out(scoped_or_404(Dataset.objects, request, dataset_id, "dataset"))


@router.get(
    "/{int:dataset_id}/versions",
    response=VersionList,
    by_alias=True,
    summary="Every version, newest first",
)
def versions(request: HttpRequest, dataset_id: int):
    """A new upload under the same name, or a source pull, makes a new version; runs name the
    version they used.
    """
    dataset = scoped_or_404(Dataset.objects, request, dataset_id, "dataset")
    return {"items": [version_out(v) for v in dataset.versions.order_by("-number")]}


@router.get(
    "/{int:dataset_id}/profile",
    response=dict,
    summary="The profile of a version (default: the latest)",
)
def profile(
    request: HttpRequest, dataset_id: int, version: int | None = Query(None, ge=1, le=MAX_ID)
):
    """Per column: its type, missing values, distinct values and summary statistics, as ingestion
    computed them. `version` is the version number; without it, the latest. 404 for a dataset
    with no ingested version yet.
    """
    dataset = scoped_or_404(Dataset.objects, request, dataset_id, "dataset")
    qs = dataset.versions.order_by("-number")
    chosen = qs.filter(number=version).first() if version else qs.first()
    if chosen is None:
        raise ApiProblem(
            404,
            f"Dataset {dataset_id} has no version {version}."
            if version
            else f"Dataset {dataset_id} has no ingested version yet.",
        )
    return chosen.profile or {}


@router.delete(
    "/{int:dataset_id}",
    auth=write_auth,
    response={204: None},
    summary="Delete a dataset (refused while a run uses it)",
)
def delete_dataset(request: HttpRequest, dataset_id: int):
    """Deletes every version and its files. Refused (409) once any run has used it (finished runs
    stay reproducible) or while a monitor watches it.
    """
    dataset = scoped_or_404(Dataset.objects, request, dataset_id, "dataset")
    try:
        dataset_delete(dataset=dataset, user=request.user, request=request)
    except DatasetInUse as exc:
        raise ApiProblem(409, exc.message, title="Dataset in use") from None
    return Status(204, None)
