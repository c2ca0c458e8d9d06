from .models import Membership


def tenancy(request):
    """The current tenant (if the view resolved one) and the user's tenants for the switcher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from .access import tenant_actions

    return {
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": getattr(request, "membership", None),
        "user_memberships": Membership.objects.for_user(user),
        # Template checks read `{% if "create" in can %}`: the actions guardian grants in this tenant.
        "can": tenant_actions(request),
    }
