"""Bearer-token authentication: every request re-checks the token, the user, the membership and the role.

A token belongs to one user in one tenant. Revoked, expired or unknown tokens, inactive
users and removed members all answer 401; a member whose role (as of now) or token scope
does not allow an action gets 403 from ``require_write``/``api_require``.

One database query per request reads the token, its user, its tenant and the membership
row (``services.token_membership``); what the role allows comes from that fresh row through
``apps.tenants.permissions.ROLE_PERMISSIONS`` — the table the guardian groups are built
from — so a role change or removal counts on the next request without guardian's queries.
The rate limits (client IP, then token or anonymous) are counted in one Redis round trip.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja.security import HttpBearer

from apps.audit.services import client_ip
from apps.tenants.permissions import CREATE, VIEW, role_allows

from . import throttling
from .errors import ApiProblem
from .models import ApiToken, Scope
from .services import token_membership, token_touch


def _throttle(checks: list[tuple[str, str, str]]) -> None:
    try:
        throttling.hit_many(checks)
    except throttling.RateLimited as exc:
        raise ApiProblem(
            429,
            f"Too many requests; try again in {exc.retry_after} s.",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None


class TokenAuth(HttpBearer):
    """``Authorization: Bearer pyn_…``; sets request.user, .tenant, .membership, .api_token.

    ``TokenAuth(write=True)`` guards state-changing operations: it also demands a write-scope
    token and the CREATE permission, before the body is even validated (a viewer gets 403, not 422).
    """

    def __init__(self, *, write: bool = False):
        super().__init__()
        self.write = write

    def __call__(self, request: HttpRequest) -> ApiToken | None:
        ip = client_ip(request) or "unknown"
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        found = token_membership(raw.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            # Guessing tokens is what the anonymous limit is for.
            _throttle([("ip", ip, "API_RATE_PER_IP"), ("anon", ip, "API_RATE_ANON")])
            return None
        token, membership = found
        _throttle([("ip", ip, "API_RATE_PER_IP"), ("token", str(token.pk), "API_RATE_PER_TOKEN")])
        request.user = token.user
        request.tenant = membership.tenant
        request.membership = membership
        request.api_token = token
        api_require(request, VIEW)
        if self.write:
            require_write(request)
        token_touch(token)
        return token

    def authenticate(
        self, request: HttpRequest, token: str
    ):  # pragma: no cover - __call__ does it all
        # ninja's HttpBearer requires this hook; our __call__ replaces the whole flow, so a
        # direct call authenticates nobody.
        return None


def api_require(request: HttpRequest, perm: str) -> None:
    """403 unless the token's membership role (read with the token, this request) allows ``perm``."""
    membership = request.membership
    if not role_allows(membership.role, perm):
        raise PermissionDenied(f"Your role ({membership.get_role_display()}) does not allow this.")


def require_write(request: HttpRequest) -> None:
    """Writes need a write-scope token and a role that may create (both as of this request)."""
    if getattr(request, "api_token", None) is None or request.api_token.scope != Scope.WRITE:
        raise PermissionDenied("This token is read-only; create a token with write scope.")
    api_require(request, CREATE)


read_auth = TokenAuth()
write_auth = TokenAuth(write=True)
