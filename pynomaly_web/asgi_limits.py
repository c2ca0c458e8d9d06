"""The upload size limit at the ASGI level, before Django reads a byte of the body.

Django's ASGI handler reads the whole body (into a spooled temporary file) before any
middleware runs, so ``UploadLimitMiddleware`` alone would answer 413 only after a 10 GB
body had been written to disk. This wrapper answers 413 from ``Content-Length`` at once,
and for bodies without a length (chunked) it counts bytes as they arrive and stops the
request the moment the limit is passed.
"""

from __future__ import annotations

import json
import re

from django.conf import settings

from apps.datasets.uploads import too_large_response

# Multipart framing around a file is a few hundred bytes; allow for it, nothing more.
_OVERHEAD = 64 * 1024
# HTTP push to a stream has its own, much smaller limit (STREAM_PUSH_MAX_BYTES).
_PUSH_PATH = re.compile(r"^/api/v1/streams/\d+/events/?$")


class _Request:
    """Just enough of a request for ``too_large_response`` to choose JSON or HTML."""

    def __init__(self, scope):
        self.path = scope.get("path", "")
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        self.headers = {"Accept": headers.get("accept", "")}


class UploadLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        push = bool(_PUSH_PATH.match(scope.get("path", "")))
        limit = (
            settings.STREAM_PUSH_MAX_BYTES
            if push
            else settings.PYNOMALY_MAX_UPLOAD_BYTES + _OVERHEAD
        )
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = 0
            if size > limit:
                await (self._refuse_push(send, limit) if push else self._refuse(scope, send, size))
                return

        received = 0
        refused = False

        async def counting_receive():
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not refused:
                    refused = True
                    await (
                        self._refuse_push(send, limit) if push else self._refuse(scope, send, None)
                    )
                    # Django stops reading and drops the request (RequestAborted).
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:  # we answered already; Django must not answer twice
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    @staticmethod
    async def _refuse_push(send, limit: int):
        body = json.dumps({
            "type": "about:blank", "title": "Request too large", "status": 413,
            "detail": f"The body is over the push limit of {limit:,} bytes.",
        }).encode()  # fmt: skip
        headers = [(b"content-type", b"application/problem+json"), (b"connection", b"close"),
                   (b"content-length", str(len(body)).encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _refuse(scope, send, size):
        response = too_large_response(_Request(scope), size)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": response.content})
