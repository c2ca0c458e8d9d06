"""A workspace's single sign-on settings, password sign-in refused where SSO is required, the
group → role mapping, and the operator's environment configuration."""

from __future__ import annotations

import json

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.tenants import sso
from apps.tenants.models import SsoPolicy, SsoRoleMapping
from apps.tenants.services import TenantRuleError
from apps.tenants.sso_config import (
    SsoConfigError,
    connections,
    form_action_sources,
    socialaccount_providers,
)
from tests.conftest import PASSWORD

OIDC = json.dumps(
    [
        {
            "id": "corp",
            "name": "Corp",
            "server_url": "https://idp.example/realms/x",
            "client_id": "pynomaly",
            "secret": "s",
        }
    ]
)
SAML = json.dumps(
    [
        {
            "id": "acme",
            "name": "Acme",
            "idp": {"entity_id": "urn:acme", "sso_url": "https://acme/sso", "x509cert": "MIIB"},
        }
    ]
)


@pytest.fixture(autouse=True)
def _connections(settings):
    settings.SOCIALACCOUNT_PROVIDERS = socialaccount_providers(OIDC, SAML)


def _url(tenant, name="tenants:sso"):
    return reverse(name, kwargs={"tenant_slug": tenant.slug})


# ---------------------------------------------------------------- settings page
def test_an_admin_sees_the_configured_connections_on_the_settings_page(alice_client, tenant_a):
    page = alice_client.get(_url(tenant_a, "tenants:settings")).content.decode()
    assert 'id="sso-form"' in page
    assert "Corp (OpenID Connect)" in page and "Acme (SAML)" in page


def test_a_viewer_does_not_see_the_sso_form_and_cannot_post_it(vera_client, tenant_a):
    page = vera_client.get(_url(tenant_a, "tenants:settings")).content.decode()
    assert 'id="sso-form"' not in page
    assert vera_client.post(_url(tenant_a), {"connection": "corp"}).status_code == 403
    assert not SsoPolicy.objects.filter(tenant=tenant_a).exists()


def test_a_stranger_gets_404(charlie_client, tenant_a):
    assert charlie_client.post(_url(tenant_a), {"connection": "corp"}).status_code == 404


def test_an_admin_binds_a_connection_with_a_group_mapping_and_it_is_audited(alice_client, tenant_a):
    response = alice_client.post(
        _url(tenant_a),
        {
            "connection": "corp",
            "groups_claim": "roles",
            "default_role": "viewer",
            "mappings": "pynomaly-admins = admin\ndata team = analyst\n",
        },
        follow=True,
    )
    assert "Single sign-on settings saved." in response.content.decode()
    policy = SsoPolicy.objects.get(tenant=tenant_a)
    assert (policy.connection, policy.groups_claim, policy.default_role) == (
        "corp",
        "roles",
        "viewer",
    )
    assert dict(SsoRoleMapping.objects.values_list("value", "role")) == {
        "pynomaly-admins": "admin",
        "data team": "analyst",
    }
    event = AuditEvent.objects.get(action="tenant.sso_updated")
    assert event.details["after"]["connection"] == "corp"
    # The page shows what was saved.
    page = alice_client.get(_url(tenant_a, "tenants:settings")).content.decode()
    assert "data team = analyst" in page


def test_a_bad_mapping_line_is_refused_with_its_line_number(alice_client, tenant_a):
    response = alice_client.post(
        _url(tenant_a), {"connection": "corp", "mappings": "ok = viewer\nnonsense"}, follow=True
    )
    assert "Line 2 of the group mapping" in response.content.decode()
    assert not SsoPolicy.objects.filter(tenant=tenant_a).exists()


def test_an_unknown_connection_is_refused(alice_client, tenant_a):
    response = alice_client.post(_url(tenant_a), {"connection": "nope"}, follow=True)
    assert response.status_code == 200
    assert "Choose a configured connection" in response.content.decode()
    assert not SsoPolicy.objects.filter(tenant=tenant_a).exists()


def test_requiring_sso_needs_the_admin_to_have_signed_in_through_it(alice_client, alice, tenant_a):
    response = alice_client.post(
        _url(tenant_a), {"connection": "corp", "required": "on"}, follow=True
    )
    assert "Sign in once through this connection yourself" in response.content.decode()
    assert not SsoPolicy.objects.filter(tenant=tenant_a, required=True).exists()

    SocialAccount.objects.create(user=alice, provider="corp", uid="alice-at-corp")
    alice_client.post(_url(tenant_a), {"connection": "corp", "required": "on"})
    assert SsoPolicy.objects.get(tenant=tenant_a).required


# ---------------------------------------------------------------- password sign-in refused
def _require_sso(tenant, owner):
    SocialAccount.objects.create(user=owner, provider="corp", uid=f"{owner.pk}-at-corp")
    sso.sso_policy_update(
        tenant=tenant,
        connection="corp",
        required=True,
        groups_claim="groups",
        default_role="",
        mappings="",
        actor=owner,
    )


def test_password_sign_in_is_refused_for_members_of_a_workspace_requiring_sso(alice, tenant_a, bob):
    _require_sso(tenant_a, alice)
    page = _sign_in_and_follow("bob@example.com")
    assert "Acme requires single sign-on" in page
    refused = AuditEvent.objects.get(action="auth.sign_in_refused", tenant=tenant_a)
    assert refused.details == {"reason": "sso_required", "method": "password"}
    # The owner too (her SSO identity does not make a password enough).
    assert "Acme requires single sign-on" in _sign_in_and_follow("alice@example.com")


def _sign_in_and_follow(email: str) -> str:
    c = Client()
    response = c.post(reverse("account_login"), {"login": email, "password": PASSWORD}, follow=True)
    assert "_auth_user_id" not in c.session
    return response.content.decode()


def test_people_outside_the_workspace_still_sign_in_with_a_password(
    alice, tenant_a, charlie, tenant_b
):
    _require_sso(tenant_a, alice)
    c = Client()
    c.post(reverse("account_login"), {"login": "charlie@example.com", "password": PASSWORD})
    assert c.session.get("_auth_user_id") == str(charlie.pk)


# ---------------------------------------------------------------- provisioning
def test_the_most_capable_mapped_role_wins_and_unmatched_people_get_the_default(alice, tenant_a):
    policy = SsoPolicy.objects.create(tenant=tenant_a, connection="corp", default_role="")
    SsoRoleMapping.objects.create(tenant=tenant_a, value="eng", role="analyst")
    SsoRoleMapping.objects.create(tenant=tenant_a, value="ops", role="admin")
    assert sso.mapped_role(policy, {"groups": ["eng", "ops"]}) == "admin"
    assert sso.mapped_role(policy, {"groups": "eng"}) == "analyst"
    assert sso.mapped_role(policy, {"groups": ["other"]}) == ""  # not provisioned


def test_provisioning_reads_oidc_claims_and_saml_attributes(alice, tenant_a, charlie):
    SsoPolicy.objects.create(tenant=tenant_a, connection="corp", default_role="")
    SsoRoleMapping.objects.create(tenant=tenant_a, value="eng", role="analyst")
    oidc = {"id_token": {"sub": "1"}, "userinfo": {"groups": ["eng"]}}
    [m] = sso.sso_provision(user=charlie, connection="corp", extra_data=oidc)
    assert (m.tenant, m.role) == (tenant_a, "analyst")
    assert AuditEvent.objects.filter(action="membership.sso_provisioned").count() == 1
    # A second sign-in changes nothing.
    assert sso.sso_provision(user=charlie, connection="corp", extra_data=oidc) == []
    # Another connection's sign-in provisions nothing here.
    assert sso.sso_provision(user=alice, connection="acme", extra_data={"groups": ["eng"]}) == []


def test_mapping_text_round_trips_and_rejects_owner():
    assert sso.parse_mappings("# note\na = viewer\n\nb=c = admin") == [
        ("a", "viewer"),
        ("b=c", "admin"),
    ]
    with pytest.raises(TenantRuleError):
        sso.parse_mappings("boss = owner")
    with pytest.raises(TenantRuleError):
        sso.parse_mappings("a = viewer\na = admin")


# ---------------------------------------------------------------- the environment
def test_the_environment_configures_oidc_and_saml_connections():
    providers = socialaccount_providers(OIDC, SAML)
    [oidc] = providers["openid_connect"]["APPS"]
    assert oidc["provider_id"] == "corp"
    assert oidc["settings"]["server_url"] == "https://idp.example/realms/x"
    assert oidc["settings"]["oauth_pkce_enabled"] is True
    [saml] = providers["saml"]["APPS"]
    assert saml["client_id"] == "acme"
    assert saml["settings"]["advanced"]["want_assertion_signed"] is True
    assert connections(providers) == [("corp", "Corp (OpenID Connect)"), ("acme", "Acme (SAML)")]
    assert socialaccount_providers("", "")["openid_connect"]["APPS"] == []
    # allauth's form redirects to the IdP: the CSP's form-action must allow its origin.
    assert form_action_sources(providers) == ["https://idp.example", "https://acme"]


@pytest.mark.parametrize(
    ("oidc", "saml", "message"),
    [
        ("{", "", "not valid JSON"),
        ('{"id": "x"}', "", "JSON list of objects"),
        ('[{"id": "x"}]', "", "lacks server_url, client_id"),
        ('[{"id": "Bad Id", "server_url": "u", "client_id": "c"}]', "", "lower-case"),
        ("", '[{"id": "s", "idp": {"entity_id": "e"}}]', "metadata_url, or sso_url"),
        (
            '[{"id": "x", "server_url": "u", "client_id": "c"}]',
            '[{"id": "x", "idp": {"entity_id": "e", "metadata_url": "m"}}]',
            "unique",
        ),
    ],
)
def test_a_malformed_environment_names_the_problem(oidc, saml, message):
    with pytest.raises(SsoConfigError, match=message):
        socialaccount_providers(oidc, saml)


def test_the_sign_in_page_offers_each_connection(db):
    page = Client().get(reverse("account_login")).content.decode()
    assert "Corp" in page and "/accounts/oidc/corp/login/" in page
    assert "Acme" in page and "/accounts/saml/acme/login/" in page
