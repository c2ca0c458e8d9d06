"""The documentation site at /docs/: the MkDocs build (``make docs``) served by the app.

A view rather than whitenoise, because the site is built after the app starts (whitenoise
indexes its files once, at start-up) and because its pages need a per-page CSP: Material's
few inline scripts (the palette, the page's scope) are allowed by their SHA-256, computed
from the built file, so the site runs under the same strict policy as the app with no
``'unsafe-inline'``. Paths are resolved with ``safe_join`` (no escape from the build
directory); a folder serves its ``index.html``. Without a build, /docs/ says how to make one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import mimetypes
import re
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils._os import safe_join
from django.views.decorators.http import require_safe

# Inline scripts only: <script> without src; JSON data blocks are not executed.
_INLINE_SCRIPT = re.compile(rb"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)


def docs_root() -> Path:
    return Path(settings.PYNOMALY_DOCS_DIR)


def is_built() -> bool:
    return (docs_root() / "index.html").is_file()


@functools.lru_cache(maxsize=256)
def _script_hashes(path: str, mtime_ns: int) -> tuple[str, ...]:
    """CSP source expressions for the inline scripts of one built page (cached per version)."""
    hashes = []
    for m in _INLINE_SCRIPT.finditer(Path(path).read_bytes()):
        attrs = m["attrs"].lower()
        if b"src=" in attrs or b"application/json" in attrs:
            continue
        digest = base64.b64encode(hashlib.sha256(m["body"]).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    return tuple(dict.fromkeys(hashes))


def _resolve(path: str) -> Path:
    """The file or folder ``path`` names inside the build; 404 for anything outside it."""
    if "\x00" in path:
        raise Http404("not a documentation file")
    try:
        return Path(safe_join(docs_root(), path))
    except (SuspiciousFileOperation, ValueError):
        raise Http404("not a documentation file") from None


@require_safe
def docs(request: HttpRequest, path: str = "") -> HttpResponseBase:
    """One file of the built site; a folder serves its index.html (with a trailing slash)."""
    if not is_built():
        return render(request, "docs_missing.html", {"docs_dir": docs_root()}, status=503)
    target = _resolve(path)
    if target.is_dir():
        if path and not path.endswith("/"):
            return redirect(request.path + "/", permanent=True)
        target = target / "index.html"
    if not target.is_file():  # the app's own 404 page (MkDocs' 404.html assumes the site root)
        raise Http404("no such documentation page")
    return _serve(target)


def _serve(target: Path) -> HttpResponseBase:
    content_type, encoding = mimetypes.guess_type(target.name)
    if encoding:  # sitemap.xml.gz is a gzip file, not an XML body to be decoded
        content_type = "application/gzip"
    response: HttpResponseBase
    if target.suffix == ".html":
        page = HttpResponse(target.read_bytes(), content_type="text/html; charset=utf-8")
        hashes = _script_hashes(str(target), target.stat().st_mtime_ns)
        if hashes:  # read by django-csp's middleware
            page._csp_update = {"script-src": list(hashes)}  # type: ignore[attr-defined]
        response = page
        response["Cache-Control"] = "no-cache"
    else:
        response = FileResponse(
            target.open("rb"), content_type=content_type or "application/octet-stream"
        )
        # Material's assets carry a content hash in their names; the rest changes rarely.
        hashed = "/assets/" in target.as_posix() and re.search(r"\.[0-9a-f]{8}\.min\.", target.name)
        response["Cache-Control"] = "public, max-age=31536000, immutable" if hashed else "no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response
