"""What each role may do. One table, read by the guardian group setup, every view and template.

Roles are stored on ``Membership``; what a role allows is expressed as django-guardian object
permissions on the ``Tenant``, granted to one group per tenant and role
(``tenant:<id>:<role>``). Checks go through ``user.has_perm("tenants.<codename>", tenant)``,
so a membership change (which moves the user between groups) takes effect on the next request.
"""

from __future__ import annotations

from .models import Role

VIEW = "view"  # read everything in the workspace
CREATE = "create"  # upload datasets, configure detectors, start/cancel runs, change thresholds
MANAGE = "manage"  # members, invitations, workspace settings, audit trail, database sources
OWN = "own"  # delete the workspace, transfer ownership

# Action → object-permission codename on Tenant (see Tenant.Meta.permissions).
CODENAMES: dict[str, str] = {
    VIEW: "view_tenant",
    CREATE: "create_content",
    MANAGE: "manage_tenant",
    OWN: "own_tenant",
}
ACTIONS: tuple[str, ...] = (VIEW, CREATE, MANAGE, OWN)
ACTION_LABELS: dict[str, str] = {
    VIEW: "Read datasets, detectors, runs and results",
    CREATE: "Upload datasets, configure detectors, start runs",
    MANAGE: "Members, invitations, workspace settings, audit trail, database sources",
    OWN: "Delete the workspace, transfer ownership",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({VIEW}),
    Role.ANALYST: frozenset({VIEW, CREATE}),
    Role.ADMIN: frozenset({VIEW, CREATE, MANAGE}),
    Role.OWNER: frozenset({VIEW, CREATE, MANAGE, OWN}),
}


def perm_name(action: str) -> str:
    """The full permission name for ``has_perm``: ``tenants.<codename>``."""
    return f"tenants.{CODENAMES[action]}"


def role_allows(role: str, perm: str) -> bool:
    """What the table says a role may do (for display and group setup; requests ask guardian)."""
    return perm in ROLE_PERMISSIONS.get(role, frozenset())


def role_matrix() -> list[tuple[str, str, list[bool]]]:
    """Rows (action, label, [allowed per role]) with roles ordered viewer → owner, for the settings page."""
    roles = [Role.VIEWER, Role.ANALYST, Role.ADMIN, Role.OWNER]
    return [(a, ACTION_LABELS[a], [role_allows(r, a) for r in roles]) for a in ACTIONS]


def group_name(tenant_id: int, role: str) -> str:
    return f"tenant:{tenant_id}:{role}"
