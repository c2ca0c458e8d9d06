"""What each role may do. One table, read by every view, endpoint and template."""

from __future__ import annotations

from .models import Role

VIEW = "view"  # read everything in the workspace
CREATE = "create"  # upload datasets, configure detectors, start/cancel runs, change thresholds
MANAGE = "manage"  # members, invitations, workspace settings, audit trail
OWN = "own"  # delete the workspace, transfer ownership

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({VIEW}),
    Role.ANALYST: frozenset({VIEW, CREATE}),
    Role.ADMIN: frozenset({VIEW, CREATE, MANAGE}),
    Role.OWNER: frozenset({VIEW, CREATE, MANAGE, OWN}),
}


def role_allows(role: str, perm: str) -> bool:
    return perm in ROLE_PERMISSIONS.get(role, frozenset())
