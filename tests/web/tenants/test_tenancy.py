import re

import pytest
from django.urls import reverse

from apps.tenants.models import Membership, Role, Tenant

TENANT_PAGES = [
    "tenants:dashboard",
    "tenants:settings",
    "datasets:list",
    "detectors:catalogue",
    "runs:list",
]


@pytest.mark.parametrize("name", TENANT_PAGES)
def test_a_member_sees_every_tenant_page(alice_client, tenant_a, name):
    response = alice_client.get(reverse(name, kwargs={"tenant_slug": tenant_a.slug}))
    assert response.status_code == 200
    assert tenant_a.name.encode() in response.content


@pytest.mark.parametrize("name", TENANT_PAGES)
def test_a_stranger_gets_404_on_every_tenant_page(charlie_client, tenant_a, name):
    response = charlie_client.get(reverse(name, kwargs={"tenant_slug": tenant_a.slug}))
    assert response.status_code == 404
    assert tenant_a.name.encode() not in response.content


@pytest.mark.parametrize("name", TENANT_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, tenant_a, name):
    response = client.get(reverse(name, kwargs={"tenant_slug": tenant_a.slug}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_an_unknown_workspace_looks_the_same_as_a_foreign_one(charlie_client, tenant_a):
    foreign = charlie_client.get(f"/t/{tenant_a.slug}/")
    unknown = charlie_client.get("/t/no-such-workspace/")
    assert foreign.status_code == unknown.status_code == 404

    # Same page byte for byte, apart from the per-response CSRF token.
    def strip_token(html: bytes) -> str:
        return re.sub(
            r'"X-CSRFToken": "[^"]+"|name="csrfmiddlewaretoken" value="[^"]+"', "", html.decode()
        )

    assert strip_token(foreign.content) == strip_token(unknown.content)


def test_viewer_and_teammate_see_the_workspace(bob_client, vera_client, tenant_a):
    for c in (bob_client, vera_client):
        assert c.get(f"/t/{tenant_a.slug}/").status_code == 200


def test_home_sends_a_member_to_their_last_workspace(alice, alice_client, tenant_a):
    from apps.tenants.services import tenant_create

    second = tenant_create(name="Second", owner=alice)
    alice_client.get(f"/t/{second.slug}/")
    assert alice_client.get("/")["Location"] == f"/t/{second.slug}/"
    alice_client.get(f"/t/{tenant_a.slug}/settings/")
    assert alice_client.get("/")["Location"] == f"/t/{tenant_a.slug}/"


def test_the_switcher_lists_only_my_workspaces(alice_client, tenant_a, tenant_b):
    html = alice_client.get(f"/t/{tenant_a.slug}/").content.decode()
    assert f"/t/{tenant_a.slug}/" in html
    assert f"/t/{tenant_b.slug}/" not in html
    assert tenant_b.name not in html


def test_sign_up_creates_a_personal_workspace_owned_by_the_new_user(client, db):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "dana@example.com",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user__email="dana@example.com")
    assert membership.role == Role.OWNER
    assert membership.tenant.personal
    assert client.get("/", follow=True).request["PATH_INFO"] == f"/t/{membership.tenant.slug}/"


def test_workspace_slugs_stay_unique(alice):
    from apps.tenants.services import tenant_create

    a = tenant_create(name="Same Name", owner=alice)
    b = tenant_create(name="Same Name", owner=alice)
    assert a.slug != b.slug
    assert Tenant.objects.filter(name="Same Name").count() == 2


def test_for_tenant_scopes_a_queryset_to_one_tenant(tenant_a, tenant_b):
    from apps.audit.models import AuditEvent

    assert AuditEvent.objects.for_tenant(tenant_a).exists()
    assert all(e.tenant_id == tenant_a.pk for e in AuditEvent.objects.for_tenant(tenant_a))


def test_a_deactivated_user_loses_access_on_the_next_request(alice, alice_client, tenant_a):
    alice.is_active = False
    alice.save()
    response = alice_client.get(f"/t/{tenant_a.slug}/")
    assert response.status_code in (302, 404)
