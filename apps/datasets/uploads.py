"""Upload size limits, enforced before the body is read.

PITFALL (measured): Django accepts a 200 MB multipart file by default —
``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not count file parts. Two guards:

* ``UploadLimitMiddleware`` answers 413 from the ``Content-Length`` header alone, before
  anything reads the body;
* ``LimitedUploadHandler`` counts bytes as they stream (for bodies without a length, or
  that lie about it) and stops the upload the moment the limit is passed.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


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
        body = {"type": "about:blank", "title": "Request too large", "status": 413, "detail": message}
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
