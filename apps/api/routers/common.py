"""Helpers every router uses: tenant-scoped lookups that answer 404 to strangers, limit checks."""

from __future__ import annotations

from django.db.models import QuerySet

from ..errors import ApiProblem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT

MAX_ID = 2**62


def scoped_or_404(qs: QuerySet, request, pk: int, what: str):
    """The object of the token's tenant with id ``pk``; 404 for anything else (never naming it)."""
    obj = qs.for_tenant(request.tenant).filter(pk=pk).first() if 0 < pk < MAX_ID else None
    if obj is None:
        raise ApiProblem(404, f"No {what} {pk} in this workspace.")
    return obj


LIMIT_DESCRIPTION = f"Items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})."
