"""Members: role changes, removal, the last-owner rule, and access ending on the next request."""

import pytest
from django.urls import reverse

from apps.tenants.models import Membership, Role
from apps.tenants.services import TenantRuleError, membership_remove, membership_set_role

from .helpers import AuditCounter


def _m(user, tenant):
    return Membership.objects.get(user=user, tenant=tenant)


def _url(name, tenant, **kw):
    return reverse(name, kwargs={"tenant_slug": tenant.slug, **kw})


def test_an_admin_changes_a_role_with_one_audit_event_holding_before_and_after(
    alice_client, bob, tenant_a
):
    with AuditCounter("membership.role_changed") as audit:
        alice_client.post(
            _url("tenants:member_role", tenant_a, pk=_m(bob, tenant_a).pk), {"role": "viewer"}
        )
    assert _m(bob, tenant_a).role == Role.VIEWER
    assert audit.event.details == {"user": bob.email, "before": "analyst", "after": "viewer"}


def test_the_last_owner_cannot_be_demoted(alice, tenant_a):
    with pytest.raises(TenantRuleError, match="last owner"):
        membership_set_role(membership=_m(alice, tenant_a), role=Role.ADMIN, actor=alice)
    assert _m(alice, tenant_a).role == Role.OWNER


def test_the_last_owner_cannot_be_removed_and_the_page_says_why(alice_client, alice, tenant_a):
    with AuditCounter("membership.removed") as audit:
        response = alice_client.post(
            _url("tenants:member_remove", tenant_a, pk=_m(alice, tenant_a).pk), follow=True
        )
    assert _m(alice, tenant_a).role == Role.OWNER
    assert "last owner cannot be removed" in response.content.decode()
    assert audit.count == 0


def test_with_a_second_owner_the_first_may_step_down(alice, bob, tenant_a):
    membership_set_role(membership=_m(bob, tenant_a), role=Role.OWNER, actor=alice)
    membership_set_role(membership=_m(alice, tenant_a), role=Role.ADMIN, actor=alice)
    assert _m(alice, tenant_a).role == Role.ADMIN


def test_an_admin_cannot_make_anyone_an_owner(alice, bob, vera, tenant_a):
    membership_set_role(membership=_m(bob, tenant_a), role=Role.ADMIN, actor=alice)
    with pytest.raises(TenantRuleError, match="Only an owner"):
        membership_set_role(membership=_m(vera, tenant_a), role=Role.OWNER, actor=bob)
    with pytest.raises(TenantRuleError, match="Only an owner"):
        membership_set_role(membership=_m(alice, tenant_a), role=Role.VIEWER, actor=bob)


def test_an_admin_cannot_remove_an_owner(alice, bob, vera, tenant_a):
    membership_set_role(membership=_m(vera, tenant_a), role=Role.OWNER, actor=alice)
    membership_set_role(membership=_m(bob, tenant_a), role=Role.ADMIN, actor=alice)
    with pytest.raises(TenantRuleError, match="Only an owner"):
        membership_remove(membership=_m(alice, tenant_a), actor=bob)


def test_a_membership_of_another_workspace_answers_404(alice_client, charlie, tenant_a, tenant_b):
    foreign = _m(charlie, tenant_b)
    assert (
        alice_client.post(_url("tenants:member_remove", tenant_a, pk=foreign.pk)).status_code == 404
    )
    assert (
        alice_client.post(
            _url("tenants:member_role", tenant_a, pk=foreign.pk), {"role": "viewer"}
        ).status_code
        == 404
    )
    assert Membership.objects.filter(pk=foreign.pk).exists()


@pytest.mark.parametrize("name", ["tenants:member_role", "tenants:member_remove"])
def test_a_stranger_gets_404_and_viewers_and_analysts_403_on_member_actions(
    charlie_client, vera_client, bob_client, alice, tenant_a, name
):
    pk = _m(alice, tenant_a).pk
    assert charlie_client.post(_url(name, tenant_a, pk=pk), {"role": "viewer"}).status_code == 404
    assert vera_client.post(_url(name, tenant_a, pk=pk), {"role": "viewer"}).status_code == 403
    assert bob_client.post(_url(name, tenant_a, pk=pk), {"role": "viewer"}).status_code == 403
    assert _m(alice, tenant_a).role == Role.OWNER


def test_a_removed_member_loses_access_on_the_next_request(alice, bob, bob_client, tenant_a):
    assert bob_client.get(_url("tenants:dashboard", tenant_a)).status_code == 200
    with AuditCounter("membership.removed") as audit:
        membership_remove(membership=_m(bob, tenant_a), actor=alice)
    assert audit.count == 1
    assert bob_client.get(_url("tenants:dashboard", tenant_a)).status_code == 404
    assert (
        bob_client.get(reverse("datasets:list", kwargs={"tenant_slug": tenant_a.slug})).status_code
        == 404
    )


def test_a_demoted_member_loses_the_action_on_the_next_request(alice, bob, bob_client, tenant_a):
    assert (
        "Upload a dataset"
        in bob_client.get(
            reverse("datasets:list", kwargs={"tenant_slug": tenant_a.slug})
        ).content.decode()
    )
    membership_set_role(membership=_m(bob, tenant_a), role=Role.VIEWER, actor=alice)
    assert (
        "Upload a dataset"
        not in bob_client.get(
            reverse("datasets:list", kwargs={"tenant_slug": tenant_a.slug})
        ).content.decode()
    )
    assert (
        bob_client.get(
            reverse("datasets:upload", kwargs={"tenant_slug": tenant_a.slug})
        ).status_code
        == 403
    )


def test_a_deactivated_user_is_signed_out_on_the_next_request(bob, bob_client, tenant_a):
    assert bob_client.get(_url("tenants:dashboard", tenant_a)).status_code == 200
    bob.is_active = False
    bob.save()
    response = bob_client.get(_url("tenants:dashboard", tenant_a))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_a_member_may_leave_and_lands_home(alice, bob, tenant_a):
    from django.test import Client

    c = Client()
    c.force_login(bob)
    membership_set_role(membership=_m(bob, tenant_a), role=Role.ADMIN, actor=alice)
    response = c.post(_url("tenants:member_remove", tenant_a, pk=_m(bob, tenant_a).pk))
    assert response["Location"] == reverse("home")
    assert not Membership.objects.filter(user=bob, tenant=tenant_a).exists()


def test_a_stranger_reaching_for_a_workspace_is_audited_once_per_request(
    charlie, charlie_client, tenant_a
):
    with AuditCounter("access.denied") as audit:
        charlie_client.get(_url("tenants:settings", tenant_a))
    assert audit.event.actor_id == charlie.pk
    assert audit.event.tenant_id == tenant_a.pk
    assert audit.event.details["path"] == _url("tenants:settings", tenant_a)


def test_an_unknown_workspace_is_not_audited(charlie_client, db):
    with AuditCounter("access.denied") as audit:
        charlie_client.get("/t/nothing-here/")
    assert audit.count == 0
