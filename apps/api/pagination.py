"""Cursor pagination over (created_at, id), newest first; the cursor is signed and opaque."""

from __future__ import annotations

from datetime import datetime

from django.core import signing
from django.db.models import Q, QuerySet

from .errors import ApiProblem

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_SALT = "pynomaly.api.cursor"


def encode(payload, *, salt_extra: str = "") -> str:
    return signing.dumps(payload, salt=_SALT + salt_extra, compress=True)


def decode(cursor: str, *, salt_extra: str = ""):
    try:
        return signing.loads(cursor, salt=_SALT + salt_extra)
    except signing.BadSignature:
        raise ApiProblem(
            400,
            "The cursor is not valid (use next_cursor from a previous page, unchanged).",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
        ) from None


def page(qs: QuerySet, *, limit: int, cursor: str | None, serialize) -> dict:
    """One page of ``qs`` newest first: {"items": [...], "next_cursor": str | None}."""
    qs = qs.order_by("-created_at", "-id")
    if cursor:
        data = decode(cursor)
        try:
            created, pk = datetime.fromisoformat(data[0]), int(data[1])
        except (TypeError, ValueError, IndexError, KeyError):
            raise ApiProblem(400, "The cursor is not valid.") from None
        qs = qs.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=pk))
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode([rows[-1].created_at.isoformat(), rows[-1].pk]) if more and rows else None
    return {"items": [serialize(r) for r in rows], "next_cursor": next_cursor}
