"""A person signs in through the identity provider in a real Chromium: the sign-in page's
"Corp IdP" button → the IdP's own sign-in form → back, a member with the mapped role."""

from __future__ import annotations

from apps.tenants.models import Membership, SsoPolicy, SsoRoleMapping
from tests.integration.test_sso_oidc import IDP_PASSWORD, oidc_idp  # noqa: F401  (fixture)


def test_a_person_signs_in_through_the_identity_provider(
    oidc_idp,  # noqa: F811
    live_server,
    page,
    alice,
    tenant_a,
):
    SsoPolicy.objects.create(tenant=tenant_a, connection="testidp", default_role="viewer")
    SsoRoleMapping.objects.create(tenant=tenant_a, value="data-admins", role="admin")

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Corp IdP").click()
    page.get_by_role("button", name="Continue").click()  # allauth asks before leaving the site
    page.wait_for_url(f"{oidc_idp.url}/login/**")
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", IDP_PASSWORD)
    page.get_by_role("button", name="Sign in to the IdP").click()
    page.wait_for_url(lambda url: url.startswith(live_server.url) and "/accounts/" not in url)

    assert Membership.objects.get(tenant=tenant_a, user__email="dana@corp.example").role == "admin"
    page.goto(f"{live_server.url}/t/{tenant_a.slug}/settings/")
    assert page.get_by_role("heading", name="Workspace settings").is_visible()
    assert page.locator("#sso-form").is_visible()  # an admin manages the workspace
