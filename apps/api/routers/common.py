"""Helpers every router uses: tenant-scoped lookups that answer 404 to strangers, limit checks."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.tenants.access import get_scoped_or_404

from ..errors import ApiProblem
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT

MAX_ID = 2**62


def scoped_or_404(qs: QuerySet, request, pk: int, what: str):
    """The object of the token's tenant with id ``pk``; 404 for anything else (never naming it).

    The same lookup as the browser's: another workspace's object is audited as access.denied.
    """
    try:
        if not 0 < pk < MAX_ID:
            raise Http404
        return get_scoped_or_404(request, qs, pk=pk)
    except Http404:
        raise ApiProblem(404, f"No {what} {pk} in this workspace.") from None


LIMIT_DESCRIPTION = f"Items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})."
