"""Dataset workflows: the only code that writes datasets, uploads and versions.

Every entry point (web form, REST API, demo seeder, Celery task) goes through these
functions, so a file is accepted, refused, ingested or deleted the same way everywhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import OperationalError, transaction
from django.db.models import Max

from apps.audit.services import audit_record
from apps.common.storage import delete_files as _delete_files
from apps.common.storage import local_path
from pynomaly.errors import DataError
from pynomaly.sandbox import ParseLimits, run_limited

from . import graphs
from .models import Dataset, DatasetVersion, Upload
from .selectors import dataset_delete_blocker
from .signals import version_created
from .uploads import (
    UploadRefused,
    check_content,
    check_limits,
    clean_filename,
    stored_filename,
)

log = logging.getLogger(__name__)

MAX_INGEST_ATTEMPTS = 3
_CHUNK = 1 << 20


class DatasetInUse(ValidationError):
    """The dataset cannot be deleted; ``message`` names the run that uses it."""


# ------------------------------------------------------------------ upload


def default_name(filename: str) -> str:
    """A dataset name from a file name: the name without its extension."""
    base = Path(filename).name
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    return stem.strip()[:200] or "dataset"


def dataset_upload(
    *, tenant, user, uploaded_file, name: str = "", request=None, edges_file=None
) -> Upload:
    """Check a received file's content, store it and queue its ingestion.

    A file whose name matches an existing dataset becomes that dataset's next version.
    ``edges_file`` (or a ``.zip`` of nodes and edges as ``uploaded_file``) makes the dataset
    a graph (see ``apps.datasets.graphs``).
    Raises ``UploadRefused`` (after auditing the refusal) and then leaves nothing behind.
    """
    return _upload(
        tenant=tenant,
        user=user,
        uploaded_file=uploaded_file,
        name=name,
        request=request,
        enqueue=True,
        edges_file=edges_file,
    )


def dataset_create_from_path(
    *,
    tenant,
    user,
    path: str | os.PathLike,
    name: str,
    ingest_now: bool,
    edges_path: str | os.PathLike | None = None,
) -> Upload:
    """The same workflow for a file on the server's disk (demo seeder, management commands)."""
    path = Path(path)
    with open(path, "rb") as fh, open(edges_path or os.devnull, "rb") as efh:
        local = _LocalFile(fh, name=path.name, path=path)
        edges = (
            _LocalFile(efh, name=Path(edges_path).name, path=Path(edges_path))
            if edges_path
            else None
        )
        upload = _upload(
            tenant=tenant,
            user=user,
            uploaded_file=local,
            name=name,
            request=None,
            enqueue=not ingest_now,
            edges_file=edges,
        )
    if ingest_now:
        dataset_ingest(upload_id=upload.pk)
        upload.refresh_from_db()
    return upload


def upload_refused(
    *, tenant, user, filename: str, name: str, message: str, reason: str, request=None
) -> None:
    """Audit a refused upload (the view calls this for refusals made before the service runs)."""
    audit_record(
        action="dataset.upload_refused",
        actor=user,
        tenant=tenant,
        request=request,
        details={"name": name, "file": filename, "reason": reason, "message": message},
    )


def _upload(
    *, tenant, user, uploaded_file, name: str, request, enqueue: bool, edges_file=None
) -> Upload:
    original_name = clean_filename(uploaded_file.name)
    name = (name or "").strip() or default_name(original_name)
    try:
        if len(name) > 200:
            raise UploadRefused("The name is too long (200 characters at most).", reason="name")
        with _upload_on_disk(uploaded_file) as path:
            if graphs.is_graph_upload(original_name, path, edges_file):
                return _store_graph_upload(
                    tenant=tenant,
                    user=user,
                    path=path,
                    original_name=original_name,
                    edges_file=edges_file,
                    name=name,
                    request=request,
                    enqueue=enqueue,
                )
            fmt = check_content(path, original_name)
            return _store_upload(
                tenant=tenant,
                user=user,
                path=path,
                original_name=original_name,
                fmt=fmt,
                name=name,
                request=request,
                enqueue=enqueue,
            )
    except UploadRefused as exc:
        upload_refused(
            tenant=tenant,
            user=user,
            filename=original_name,
            name=name,
            message=exc.message,
            reason=exc.code or "refused",
            request=request,
        )
        raise


def _store_graph_upload(
    *, tenant, user, path: Path, original_name: str, edges_file, name: str, request, enqueue: bool
) -> Upload:
    """A graph: packed into one zip (two files), checked as a graph, then stored as one file."""
    stored_name = graphs.graph_name(original_name, edges_file and clean_filename(edges_file.name))
    store = partial(
        _store_upload,
        tenant=tenant,
        user=user,
        original_name=stored_name,
        fmt=graphs.FORMAT,
        name=name,
        request=request,
        enqueue=enqueue,
    )
    if edges_file is None:
        graphs.check_graph(path, original_name)
        return store(path=path)
    with graphs.packed(path, original_name, edges_file) as zipped:
        graphs.check_graph(zipped, f"{original_name} + {clean_filename(edges_file.name)}")
        return store(path=zipped)


def _store_upload(
    *, tenant, user, path: Path, original_name: str, fmt: str, name: str, request, enqueue: bool
) -> Upload:
    size = path.stat().st_size
    stored = None
    try:
        with open(path, "rb") as fh:
            content = _HashingFile(fh, name=original_name)
            target = Upload._meta.get_field("file").generate_filename(
                None, stored_filename(original_name)
            )
            stored = default_storage.save(target, content)
        sha256 = content.hexdigest(path, size)
        with transaction.atomic():
            dataset, created = Dataset.objects.get_or_create(
                tenant=tenant,
                name=name,
                defaults={"created_by": user, "status": Dataset.Status.INGESTING},
            )
            if not created:
                dataset.status, dataset.error = Dataset.Status.INGESTING, ""
                dataset.save(update_fields=["status", "error", "updated_at"])
            upload = Upload.objects.create(
                tenant=tenant,
                dataset=dataset,
                file=stored,
                original_name=original_name,
                format=fmt,
                size=size,
                sha256=sha256,
                created_by=user,
            )
            audit_record(
                action="dataset.uploaded",
                actor=user,
                tenant=tenant,
                target=dataset,
                request=request,
                details={
                    "upload": upload.pk,
                    "file": original_name,
                    "format": fmt,
                    "size": size,
                    "sha256": sha256,
                    "new_dataset": created,
                },
            )
            if enqueue:
                transaction.on_commit(partial(_enqueue_ingest, upload.pk))
    except BaseException:
        if stored:
            default_storage.delete(stored)
        raise
    return upload


def _enqueue_ingest(upload_id: int) -> None:
    from .tasks import ingest

    ingest.delay(upload_id)


class _HashingFile(File):
    """Computes sha256 and size as storage copies the file chunk by chunk."""

    def __init__(self, file, name: str):
        super().__init__(file, name=name)
        self._sha = hashlib.sha256()
        self._seen = 0

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        for chunk in super().chunks(chunk_size or _CHUNK):
            self._sha.update(chunk)
            self._seen += len(chunk)
            yield chunk

    def hexdigest(self, path: Path, size: int) -> str:
        if self._seen != size:  # a storage that read the file without chunks(): hash it here
            self._sha = hashlib.sha256()
            with open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    self._sha.update(chunk)
        return self._sha.hexdigest()


class _LocalFile(File):
    def __init__(self, file, name: str, path: Path):
        super().__init__(file, name=name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


@contextmanager
def _upload_on_disk(uploaded_file) -> Iterator[Path]:
    """The upload's bytes as a file on local disk (Django already spooled large ones)."""
    if hasattr(uploaded_file, "temporary_file_path"):
        yield Path(uploaded_file.temporary_file_path())
        return
    # Keep the extension: openpyxl refuses a workbook whose path does not end in .xlsx.
    suffix = Path(uploaded_file.name or "").suffix.lower()
    suffix = suffix if suffix[1:].isalnum() and len(suffix) <= 10 else ""
    fd, tmp = tempfile.mkstemp(
        prefix="pynomaly-upload-", suffix=suffix, dir=settings.FILE_UPLOAD_TEMP_DIR
    )
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in uploaded_file.chunks():
                out.write(chunk)
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


# ------------------------------------------------------------------ ingest


def parse_limits() -> ParseLimits:
    """The OS limits every full parse of user data runs under (settings / environment)."""
    return ParseLimits(
        max_memory_mb=settings.PYNOMALY_PARSE_MAX_MEMORY_MB,
        max_cpu_seconds=settings.PYNOMALY_PARSE_MAX_CPU_SECONDS,
        timeout_seconds=settings.PYNOMALY_PARSE_TIMEOUT_SECONDS,
    )


def dataset_ingest(*, upload_id: int) -> Upload | None:
    """Parse a pending upload into an immutable version (or recognise it as a duplicate).

    Idempotent: an upload that is not pending is left alone. On any failure no version
    row and no new file remain; the upload and its dataset are marked failed.
    """
    upload = _claim(upload_id)
    if upload is None:
        return None
    if upload.attempts > MAX_INGEST_ATTEMPTS:
        _fail(
            upload_id,
            "Ingestion was interrupted repeatedly (the worker may have run out of memory).",
        )
        return _reload(upload_id)
    existing = DatasetVersion.objects.filter(
        dataset_id=upload.dataset_id, sha256=upload.sha256
    ).first()
    if existing is not None:
        _write_or_duplicate(upload_id, None)
        return _reload(upload_id)

    stored: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="pynomaly-ingest-") as tmp:
            local_parquet = Path(tmp) / "data.parquet"
            local_edges = Path(tmp) / "edges.parquet"
            with local_path(upload.file) as source:
                # The parse runs in a child process under OS limits: a file that inflates
                # past them fails this dataset, never the worker (see pynomaly.sandbox).
                if upload.format == graphs.FORMAT:
                    version_fields = graphs.convert(Path(source), local_parquet, local_edges)
                else:
                    version_fields = run_limited(
                        "pynomaly.ingest:convert_upload",
                        {
                            "source": str(source),
                            "target": str(local_parquet),
                            "format": upload.format,
                            "filename": upload.original_name,
                            "limits": dataclasses.asdict(check_limits()),
                        },
                        parse_limits(),
                    )
            stem = default_name(upload.original_name)
            version_fields["parquet"] = _save_parquet(local_parquet, stem, stored)
            if upload.format == graphs.FORMAT:
                version_fields["edges"] = _save_parquet(local_edges, stem + "-edges", stored)
        if not _write_or_duplicate(upload_id, version_fields):
            _delete_files(stored)
    except OperationalError:
        # A locked or lost database is not the file's fault: let the task retry.
        _delete_files(stored)
        raise
    except Exception as exc:  # noqa: BLE001 - every failure must end visibly on the dataset
        _delete_files(stored)
        if isinstance(exc, DataError):
            message = str(exc)
        else:
            log.exception("ingest of upload %s failed", upload_id)
            message = f"The file could not be ingested ({type(exc).__name__})."
        _fail(upload_id, message)
    return _reload(upload_id)


def _save_parquet(local: Path, stem: str, stored: list[str]) -> str:
    """Save a Parquet file to storage; its name is added to ``stored`` (for clean-up)."""
    with open(local, "rb") as fh:
        target = DatasetVersion._meta.get_field("parquet").generate_filename(
            None, stored_filename(stem + ".parquet")
        )
        name = default_storage.save(target, File(fh))
    stored.append(name)
    return name


def _reload(upload_id: int) -> Upload | None:
    return Upload.objects.select_related("dataset", "version").filter(pk=upload_id).first()


def _claim(upload_id: int) -> Upload | None:
    with transaction.atomic():
        upload = Upload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None or upload.status != Upload.Status.PENDING:
            return None
        upload.attempts += 1
        upload.save(update_fields=["attempts"])
    return upload


def _settled_status(dataset: Dataset, upload: Upload) -> str:
    others = dataset.uploads.filter(status=Upload.Status.PENDING).exclude(pk=upload.pk).exists()
    return Dataset.Status.INGESTING if others else Dataset.Status.READY


def _write_or_duplicate(upload_id: int, version_fields: dict[str, Any] | None) -> bool:
    """Write the version in one transaction; False when nothing was written (duplicate, gone, done)."""
    with transaction.atomic():
        upload = Upload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None or upload.status != Upload.Status.PENDING:
            return False
        dataset = Dataset.objects.select_for_update().get(pk=upload.dataset_id)
        same = dataset.versions.filter(sha256=upload.sha256).first()
        if same is not None:
            _mark_duplicate(upload, dataset, same)
            return False
        if version_fields is None:
            return False
        number = (dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = DatasetVersion.objects.create(
            tenant_id=upload.tenant_id,
            dataset=dataset,
            number=number,
            sha256=upload.sha256,
            original=upload.file.name,
            original_name=upload.original_name,
            format=upload.format,
            size=upload.size,
            created_by=upload.created_by,
            **version_fields,
        )
        upload.status, upload.version, upload.error = Upload.Status.DONE, version, ""
        upload.save(update_fields=["status", "version", "error"])
        dataset.status, dataset.error = _settled_status(dataset, upload), ""
        dataset.save(update_fields=["status", "error", "updated_at"])
        audit_record(
            action="dataset.version_created",
            actor=upload.created_by,
            tenant=dataset.tenant,
            target=version,
            details={
                "dataset": dataset.pk,
                "number": number,
                "rows": version.rows,
                "columns": version.columns,
                "sha256": version.sha256,
            },
        )
        transaction.on_commit(
            lambda: version_created.send_robust(sender=DatasetVersion, version=version)
        )
    return True


def _mark_duplicate(upload: Upload, dataset: Dataset, same: DatasetVersion) -> None:
    stored = upload.file.name
    upload.status, upload.version = Upload.Status.DUPLICATE, same
    upload.error = f"Identical to version {same.number}; nothing new was stored."
    upload.file = ""
    upload.save(update_fields=["status", "version", "error", "file"])
    dataset.status, dataset.error = _settled_status(dataset, upload), ""
    dataset.save(update_fields=["status", "error", "updated_at"])
    audit_record(
        action="dataset.upload_duplicate",
        actor=upload.created_by,
        tenant=dataset.tenant,
        target=dataset,
        details={"upload": upload.pk, "version": same.number},
    )
    if stored and stored != same.original.name:
        transaction.on_commit(partial(_delete_files, [stored]))


def _fail(upload_id: int, message: str) -> None:
    with transaction.atomic():
        upload = Upload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None or upload.status != Upload.Status.PENDING:
            return
        stored = upload.file.name
        upload.status, upload.error, upload.file = Upload.Status.FAILED, message, ""
        upload.save(update_fields=["status", "error", "file"])
        dataset = Dataset.objects.select_for_update().get(pk=upload.dataset_id)
        dataset.status, dataset.error = Dataset.Status.FAILED, message
        dataset.save(update_fields=["status", "error", "updated_at"])
        audit_record(
            action="dataset.ingest_failed",
            actor=upload.created_by,
            tenant=dataset.tenant,
            target=dataset,
            details={"upload": upload.pk, "file": upload.original_name, "message": message},
        )
        if stored:
            transaction.on_commit(partial(_delete_files, [stored]))


# ------------------------------------------------------------------ delete


def dataset_delete(*, dataset: Dataset, user, request=None) -> None:
    """Delete a dataset with every version and stored file; refused while a run uses it."""
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        reason = dataset_delete_blocker(dataset)
        if reason:
            raise DatasetInUse(reason, code="in_use")
        names = set()
        for original, parquet, edges in dataset.versions.values_list(
            "original", "parquet", "edges"
        ):
            names.update((original, parquet, edges))
        names.update(dataset.uploads.values_list("file", flat=True))
        audit_record(
            action="dataset.deleted",
            actor=user,
            tenant=dataset.tenant,
            target=dataset,
            request=request,
            details={"name": dataset.name, "versions": dataset.versions.count()},
        )
        dataset.delete()
        transaction.on_commit(partial(_delete_files, sorted(n for n in names if n)))
