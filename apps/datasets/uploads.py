"""What an upload must pass: a size limit enforced before the body is read, then a content check.

PITFALL (measured): Django accepts a 200 MB multipart file by default —
``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not count file parts. Two guards:

* ``UploadLimitMiddleware`` answers 413 from the ``Content-Length`` header alone, before
  anything reads the body;
* ``LimitedUploadHandler`` counts bytes as they stream (for bodies without a length, or
  that lie about it) and stops the upload the moment the limit is passed; the view then
  answers 413 as well.

``check_content`` then judges a received file by its bytes (magic numbers, declared
sizes, a bounded prefix), never by its name alone, and never by parsing it whole.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from apps.common import metrics
from pynomaly import data as engine
from pynomaly.errors import DataError, LimitExceeded


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
    metrics.upload_refused("too_large")
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


# ------------------------------------------------------------------ file names

# The name a user sees is bounded in characters (the database column); the name on disk in
# bytes, because the filesystem counts bytes: 300 characters of Chinese are 900 bytes, and
# one path component may hold 255 (with room left for the storage's collision suffix).
DISPLAY_NAME_CHARS = 255
STORED_NAME_BYTES = 120


def clean_filename(name: str | None) -> str:
    """The user's file name, safe to show and to keep: NFC, last path part, no control characters."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]  # browsers may send a Windows path
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = text.strip().lstrip(".").strip()
    if not text:
        return "upload"
    if len(text) <= DISPLAY_NAME_CHARS:
        return text
    stem, ext = _split_ext(text)
    return stem[: DISPLAY_NAME_CHARS - len(ext)] + ext


def stored_filename(name: str) -> str:
    """A name for storage: ``clean_filename`` cut to ``STORED_NAME_BYTES`` UTF-8 bytes, extension kept."""
    stem, ext = _split_ext(clean_filename(name))
    room = STORED_NAME_BYTES - len(ext.encode())
    stem = stem.encode()[:room].decode("utf-8", errors="ignore").strip() or "upload"
    return stem + ext


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 10 and ext.isascii() and ext.isalnum():
        return stem, "." + ext
    return name, ""


# ------------------------------------------------------------------ content check


class UploadRefused(ValidationError):
    """The file cannot become a dataset; ``message`` says why, ``code`` is the short reason.

    Reasons: ``too_large`` (over the byte limit), ``limit`` (declares or holds more than a
    dataset limit), ``empty``, ``format``, ``malformed``, ``name``.
    """

    def __init__(self, message: str, *, reason: str):
        super().__init__(message, code=reason)
        metrics.upload_refused(reason)


def check_limits() -> engine.Limits:
    """The dataset limits from settings, shared by the upload check and the ingest parse."""
    return engine.Limits(
        max_bytes=settings.PYNOMALY_MAX_UPLOAD_BYTES,
        max_rows=settings.PYNOMALY_MAX_ROWS,
        max_columns=settings.PYNOMALY_MAX_COLUMNS,
        max_line_bytes=settings.PYNOMALY_MAX_LINE_BYTES,
        max_uncompressed_bytes=settings.PYNOMALY_PARSE_MAX_MEMORY_MB << 20,
    )


def check_content(path: Path, filename: str) -> str:
    """The file's format, judged by cheap bounded checks of its bytes; ``UploadRefused`` otherwise.

    Nothing here reads more than a bounded prefix or a container's metadata: the full
    parse happens at ingest, in a process the OS keeps within limits.
    """
    size = path.stat().st_size
    if size == 0:
        raise UploadRefused(f"{filename} is empty.", reason="empty")
    if size > max_upload_bytes():
        raise UploadRefused(too_large_message(size), reason="too_large")
    try:
        engine.sniff_format(path, filename=filename)
    except DataError as exc:
        raise UploadRefused(f"{filename} cannot be used: {exc}.", reason="format") from None
    try:
        return engine.check_file(path, filename=filename, limits=check_limits())
    except LimitExceeded as exc:
        raise UploadRefused(f"{filename} is too large to use: {exc}.", reason="limit") from None
    except DataError as exc:
        raise UploadRefused(f"{filename} cannot be read: {exc}.", reason="malformed") from None
