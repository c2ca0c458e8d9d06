from .models import Membership


def tenancy(request):
    """The current tenant (if the view resolved one) and the user's tenants for the switcher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": getattr(request, "membership", None),
        "user_memberships": Membership.objects.for_user(user),
        # Template checks read `{% if "create" in can %}`; the rule itself lives in permissions.py.
        "can": _can(request),
    }


def _can(request):
    from .permissions import ROLE_PERMISSIONS

    membership = getattr(request, "membership", None)
    return ROLE_PERMISSIONS.get(membership.role, frozenset()) if membership else frozenset()
