"""Checking a Pynomaly alert webhook on the receiving side (and signing it on the server).

Every webhook request carries ``X-Pynomaly-Timestamp`` (Unix seconds) and
``X-Pynomaly-Signature: sha256=<hex>``, the HMAC-SHA256 of ``f"{timestamp}.{body}"`` under the
endpoint's secret, plus ``Idempotency-Key`` (also ``idempotency_key`` in the JSON body): a
receiver that sees a key again has already handled that alert.

>>> from pynomaly.client.webhooks import verify
>>> verify(secret, request.headers, request.body)   # raises SignatureInvalid if forged or stale
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Pynomaly-Timestamp"
SIGNATURE_HEADER = "X-Pynomaly-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE = 300.0  # seconds a signed request stays acceptable (replay window)


class SignatureInvalid(ValueError):
    """The request was not signed with this secret, or is older than the tolerance."""


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex of HMAC-SHA256(secret, f"{timestamp}.{body}")>``."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers that sign ``body`` at ``now`` (default: the current time)."""
    ts = int(now if now is not None else time.time())
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: signature(secret, ts, body)}


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check a received request; return its timestamp or raise :class:`SignatureInvalid`."""
    lower = {k.lower(): v for k, v in headers.items()}
    ts_text = lower.get(TIMESTAMP_HEADER.lower(), "")
    given = lower.get(SIGNATURE_HEADER.lower(), "")
    try:
        ts = int(ts_text)
    except ValueError:
        raise SignatureInvalid(f"missing or malformed {TIMESTAMP_HEADER}") from None
    current = now if now is not None else time.time()
    if abs(current - ts) > tolerance:
        raise SignatureInvalid(f"timestamp {ts} is outside the {tolerance:g} s window (replay?)")
    if not hmac.compare_digest(signature(secret, ts, body), given):
        raise SignatureInvalid("signature does not match the body and the secret")
    return ts
