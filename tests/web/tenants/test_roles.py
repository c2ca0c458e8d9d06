"""Roles are guardian object permissions on the tenant, held through one group per tenant and role."""

import pytest
from django.contrib.auth.models import Group
from django.test import RequestFactory

from apps.tenants.access import tenant_actions
from apps.tenants.models import Membership, Role
from apps.tenants.permissions import (
    CREATE,
    LABEL,
    MANAGE,
    OWN,
    ROLE_PERMISSIONS,
    VIEW,
    perm_name,
    role_matrix,
)
from apps.tenants.services import (
    TenantRuleError,
    membership_remove,
    membership_set_role,
    tenant_sync_role_groups,
)


def _groups(user, tenant):
    return sorted(g.name for g in user.groups.filter(name__startswith=f"tenant:{tenant.pk}:"))


def test_a_new_tenant_gets_one_group_per_role_holding_the_roles_permissions(tenant_a):
    from guardian.shortcuts import get_perms

    for role, actions in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=f"tenant:{tenant_a.pk}:{role}")
        assert set(get_perms(group, tenant_a)) == {perm_name(a).split(".")[1] for a in actions}


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("alice", {VIEW, CREATE, MANAGE, OWN}),
        ("bob", {VIEW, CREATE}),
        ("vera", {VIEW}),
        ("charlie", set()),
    ],
)
def test_each_persona_holds_exactly_its_roles_object_permissions(
    request, tenant_a, bob, vera, charlie, persona, allowed
):
    user = request.getfixturevalue(persona)
    for action in (VIEW, CREATE, MANAGE, OWN):
        assert user.has_perm(perm_name(action), tenant_a) is (action in allowed), action


def test_permissions_on_one_tenant_grant_nothing_on_another(alice, tenant_a, tenant_b):
    assert not alice.has_perm(perm_name(VIEW), tenant_b)


def test_a_role_change_moves_the_member_between_groups(alice, bob, tenant_a):
    membership = Membership.objects.get(user=bob, tenant=tenant_a)
    assert _groups(bob, tenant_a) == [f"tenant:{tenant_a.pk}:analyst"]
    membership_set_role(membership=membership, role=Role.ADMIN, actor=alice)
    assert _groups(bob, tenant_a) == [f"tenant:{tenant_a.pk}:admin"]
    assert bob.has_perm(perm_name(MANAGE), tenant_a)


def test_removing_a_member_takes_them_out_of_every_group_of_the_tenant(alice, bob, tenant_a):
    membership_remove(membership=Membership.objects.get(user=bob, tenant=tenant_a), actor=alice)
    assert _groups(bob, tenant_a) == []
    assert not bob.has_perm(perm_name(VIEW), tenant_a)


def test_a_failed_role_change_leaves_the_groups_as_they_were(alice, tenant_a):
    with pytest.raises(TenantRuleError):
        membership_set_role(
            membership=Membership.objects.get(user=alice, tenant=tenant_a),
            role=Role.VIEWER,
            actor=alice,
        )
    assert _groups(alice, tenant_a) == [f"tenant:{tenant_a.pk}:owner"]


def test_syncing_role_groups_repairs_a_missing_permission(tenant_a, bob):
    from guardian.shortcuts import remove_perm

    group = Group.objects.get(name=f"tenant:{tenant_a.pk}:analyst")
    remove_perm("tenants.create_content", group, tenant_a)
    assert not bob.has_perm(perm_name(CREATE), tenant_a)
    tenant_sync_role_groups(tenant_a)
    assert bob.has_perm(perm_name(CREATE), tenant_a)


def test_the_can_set_for_templates_comes_from_guardian(tenant_a, bob):
    from guardian.shortcuts import remove_perm

    request = RequestFactory().get("/")
    request.user, request.tenant = bob, tenant_a
    assert tenant_actions(request) == {VIEW, CREATE, LABEL}
    remove_perm(
        "tenants.create_content", Group.objects.get(name=f"tenant:{tenant_a.pk}:analyst"), tenant_a
    )
    request = RequestFactory().get("/")
    request.user, request.tenant = bob, tenant_a
    assert tenant_actions(request) == {VIEW}


def test_a_deactivated_member_holds_no_permission(tenant_a, bob):
    bob.is_active = False
    bob.save()
    assert not bob.has_perm(perm_name(VIEW), tenant_a)


def test_the_matrix_on_the_settings_page_is_the_role_table():
    rows = {action: allowed for action, _, allowed in role_matrix()}
    assert rows == {
        VIEW: [True, True, True, True],
        CREATE: [False, True, True, True],
        MANAGE: [False, False, True, True],
        OWN: [False, False, False, True],
        LABEL: [False, True, True, True],  # analysts and up mark rows; viewers read verdicts
    }
