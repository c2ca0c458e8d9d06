"""What an upload must pass: a size limit enforced before the body is read, then a content check.

PITFALL (measured): Django accepts a 200 MB multipart file by default —
``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not count file parts. Two guards:

* ``UploadLimitMiddleware`` answers 413 from the ``Content-Length`` header alone, before
  anything reads the body;
* ``LimitedUploadHandler`` counts bytes as they stream (for bodies without a length, or
  that lie about it) and stops the upload the moment the limit is passed; the view then
  answers 413 as well.

``check_content`` then judges a received file by its bytes (magic numbers, a parsed
sample), never by its name alone.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from pynomaly import data as engine
from pynomaly.errors import DataError

_NO_LIMIT = 1 << 62


def max_upload_bytes() -> int:
    return settings.PYNOMALY_MAX_UPLOAD_BYTES


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def too_large_message(size: int | None = None) -> str:
    limit = human_bytes(max_upload_bytes())
    if size is None:
        return f"The file is larger than the upload limit of {limit}."
    return f"The file is {human_bytes(size)}; the upload limit is {limit}."


def too_large_response(request: HttpRequest, size: int | None = None) -> HttpResponse:
    message = too_large_message(size)
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        body = {
            "type": "about:blank",
            "title": "Request too large",
            "status": 413,
            "detail": message,
        }
        return HttpResponse(json.dumps(body), status=413, content_type="application/problem+json")
    html = render_to_string("errors/413.html", {"message": message}, request=None)
    response = HttpResponse(html, status=413)
    # The body was never read: the connection cannot be reused for another request.
    response["Connection"] = "close"
    return response


class UploadLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        length = request.META.get("CONTENT_LENGTH")
        if request.method in ("POST", "PUT", "PATCH") and length:
            try:
                size = int(length)
            except ValueError:
                size = 0
            # Multipart overhead is a few hundred bytes; allow for it but no more.
            if size > max_upload_bytes() + 64 * 1024:
                return too_large_response(request, size)
        return self.get_response(request)


class UploadTooLarge(StopUpload):
    pass


class LimitedUploadHandler(FileUploadHandler):
    """Counts streamed bytes; stops the request as soon as the limit is crossed."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received = getattr(self, "received", 0) + len(raw_data)
        if self.received > max_upload_bytes():
            self.request.upload_too_large = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None


# ------------------------------------------------------------------ content check

# Files up to this size are parsed whole while the user waits; larger text files have
# their head parsed, larger binary files their container checked. Ingest parses all.
FULL_CHECK_BYTES = 4 << 20
SAMPLE_BYTES = 1 << 20


class UploadRefused(ValidationError):
    """The file cannot become a dataset; ``message`` says why, ``code`` is the short reason."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message, code=reason)


def check_content(path: Path, filename: str) -> str:
    """The file's format, judged from its bytes and a parsed sample; ``UploadRefused`` otherwise."""
    size = path.stat().st_size
    if size == 0:
        raise UploadRefused(f"{filename} is empty.", reason="empty")
    if size > max_upload_bytes():
        raise UploadRefused(too_large_message(size), reason="too_large")
    try:
        fmt = engine.sniff_format(path, filename=filename)
    except DataError as exc:
        raise UploadRefused(f"{filename} cannot be used: {exc}.", reason="format") from None
    try:
        _parse_sample(path, fmt, filename, size)
    except DataError as exc:
        raise UploadRefused(f"{filename} cannot be read: {exc}.", reason="malformed") from None
    return fmt


def _parse_sample(path: Path, fmt: str, filename: str, size: int) -> None:
    limits = engine.Limits(
        max_bytes=_NO_LIMIT, max_rows=_NO_LIMIT, max_columns=settings.PYNOMALY_MAX_COLUMNS
    )
    if size <= FULL_CHECK_BYTES:
        engine.load(path, format=fmt, limits=limits, filename=filename, time_column=None)
        return
    if fmt in ("csv", "tsv", "jsonl"):
        with open(path, "rb") as fh:
            head = fh.read(SAMPLE_BYTES)
        head = head[: head.rfind(b"\n") + 1] or head  # whole lines only
        with tempfile.TemporaryDirectory(prefix="pynomaly-sample-") as tmp:
            sample = Path(tmp) / "sample"
            sample.write_bytes(head)
            engine.load(sample, format=fmt, limits=limits, filename=filename, time_column=None)
        return
    # Binary containers: open them and read a first batch; a JSON document can only be
    # parsed whole, so beyond FULL_CHECK_BYTES its parse happens at ingest.
    try:
        _open_container(path, fmt)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means "not readable"
        first = (str(exc).strip() or type(exc).__name__).splitlines()[0][:300]
        raise DataError(f"not a readable {fmt} file: {first}") from None


def _open_container(path: Path, fmt: str) -> None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        next(pq.ParquetFile(path).iter_batches(batch_size=100), None)
    elif fmt == "feather":
        import pyarrow as pa
        import pyarrow.ipc as ipc

        try:
            reader = ipc.open_file(path)
            if reader.num_record_batches:
                reader.get_batch(0)
        except pa.ArrowInvalid:
            with pa.OSFile(str(path)) as fh:
                ipc.open_stream(fh).read_next_batch()
    elif fmt == "xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            next(wb.worksheets[0].iter_rows(max_row=10, values_only=True), None)
        finally:
            wb.close()
    elif fmt == "hdf5":
        import h5py

        with h5py.File(path, "r") as fh:
            if not len(fh):
                raise DataError("the HDF5 file holds no datasets")
