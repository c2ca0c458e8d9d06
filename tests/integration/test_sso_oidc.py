"""OpenID Connect sign-in end to end on loopback: a real identity provider (django-oauth-toolkit,
its own process and database, tests/sso_idp) → redirect → IdP sign-in → callback → a signed-in
member of the workspace with the role their IdP group maps to."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys

import pytest
import requests

from apps.tenants.models import Membership, SsoPolicy, SsoRoleMapping
from apps.tenants.sso_config import form_action_sources, socialaccount_providers
from tests.conftest import PASSWORD, ROOT, _free_port, wait_for_port

CLIENT_ID = "pynomaly-test"
CLIENT_SECRET = "test-secret-not-for-production"
IDP_PASSWORD = "idp-password-123"


def _rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class Idp:
    def __init__(self, url: str, issuer: str):
        self.url = url
        self.issuer = issuer


@pytest.fixture
def oidc_idp(live_server, tmp_path, settings):
    """The IdP process, with two users (dana in group ``data-admins``, eve in none), and this
    server configured with one OIDC connection ``testidp`` pointing at it."""
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}/o"
    setup = {
        "users": [
            {
                "username": "dana",
                "email": "dana@corp.example",
                "password": IDP_PASSWORD,
                "groups": ["data-admins", "staff"],
            },
            {"username": "eve", "email": "eve@corp.example", "password": IDP_PASSWORD},
        ],
        "client": {
            "client_id": CLIENT_ID,
            "secret": CLIENT_SECRET,
            "redirect_uri": f"{live_server.url}/accounts/oidc/testidp/login/callback/",
        },
    }
    env = {
        **os.environ,
        "IDP_DB": str(tmp_path / "idp.sqlite3"),
        "IDP_RSA_KEY": _rsa_pem(),
        "IDP_ISSUER": issuer,
        "IDP_PORT": str(port),
        "IDP_SETUP": json.dumps(setup),
        "DJANGO_SETTINGS_MODULE": "tests.sso_idp.settings",
    }
    log = tmp_path / "idp.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.sso_idp.serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    wait_for_port(port, proc, log, "the test IdP", timeout=60)
    providers = socialaccount_providers(
        json.dumps(
            [
                {
                    "id": "testidp",
                    "name": "Corp IdP",
                    "server_url": issuer,
                    "client_id": CLIENT_ID,
                    "secret": CLIENT_SECRET,
                }
            ]
        ),
        "",
    )
    # What settings.py derives from the environment: the connections, and the IdP's origin
    # among the CSP's form-action sources.
    settings.SOCIALACCOUNT_PROVIDERS = providers
    csp = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    csp["DIRECTIVES"]["form-action"] = ["'self'", *form_action_sources(providers)]
    settings.CONTENT_SECURITY_POLICY = csp
    yield Idp(f"http://127.0.0.1:{port}", issuer)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def sso_sign_in(server_url: str, username: str) -> tuple[requests.Session, requests.Response]:
    """What a browser does: press the connection's button, sign in at the IdP, come back."""
    s = requests.Session()
    start = s.get(f"{server_url}/accounts/oidc/testidp/login/")
    assert start.status_code == 200
    to_idp = s.post(start.url, data={"csrfmiddlewaretoken": _csrf(start.text)})
    # allauth sent us to the IdP's authorize endpoint, which asked us to sign in there first.
    assert "/login/" in to_idp.url and "127.0.0.1" in to_idp.url, to_idp.url
    assert "code_challenge" in requests.utils.unquote(to_idp.url)  # PKCE
    back = s.post(
        to_idp.url,
        data={
            "csrfmiddlewaretoken": _csrf(to_idp.text),
            "username": username,
            "password": IDP_PASSWORD,
            "next": re.search(r'name="next" value="([^"]+)"', to_idp.text)
            .group(1)
            .replace("&amp;", "&"),
        },
    )
    return s, back


def test_a_first_sso_sign_in_provisions_a_member_with_the_mapped_role(
    oidc_idp, live_server, alice, tenant_a
):
    SsoPolicy.objects.create(tenant=tenant_a, connection="testidp", default_role="viewer")
    SsoRoleMapping.objects.create(tenant=tenant_a, value="data-admins", role="admin")

    session, landed = sso_sign_in(live_server.url, "dana")

    assert landed.status_code == 200, landed.text[:1000]
    assert landed.url.startswith(live_server.url)
    membership = Membership.objects.get(tenant=tenant_a, user__email="dana@corp.example")
    assert membership.role == "admin"
    # Signed in: the workspace's settings page (admins manage) opens for this session.
    page = session.get(f"{live_server.url}/t/{tenant_a.slug}/settings/")
    assert page.status_code == 200
    assert "Workspace settings" in page.text
    assert "Send invitation" in page.text


def test_a_member_without_a_mapped_group_gets_the_default_role(
    oidc_idp, live_server, alice, tenant_a
):
    SsoPolicy.objects.create(tenant=tenant_a, connection="testidp", default_role="viewer")
    SsoRoleMapping.objects.create(tenant=tenant_a, value="data-admins", role="admin")

    session, landed = sso_sign_in(live_server.url, "eve")

    assert landed.status_code == 200
    assert Membership.objects.get(tenant=tenant_a, user__email="eve@corp.example").role == "viewer"
    assert session.get(f"{live_server.url}/t/{tenant_a.slug}/settings/").status_code == 200


def test_a_wrong_idp_password_signs_no_one_in(oidc_idp, live_server, tenant_a):
    SsoPolicy.objects.create(tenant=tenant_a, connection="testidp", default_role="viewer")
    s = requests.Session()
    start = s.get(f"{live_server.url}/accounts/oidc/testidp/login/")
    to_idp = s.post(start.url, data={"csrfmiddlewaretoken": _csrf(start.text)})
    s.post(
        to_idp.url,
        data={"csrfmiddlewaretoken": _csrf(to_idp.text), "username": "dana", "password": "wrong"},
    )
    assert not Membership.objects.filter(user__email="dana@corp.example").exists()
    page = s.get(f"{live_server.url}/t/{tenant_a.slug}/settings/", allow_redirects=False)
    assert page.status_code == 302 and "/accounts/login/" in page.headers["Location"]


def test_where_sso_is_required_members_sign_in_through_the_idp_and_not_with_a_password(
    oidc_idp, live_server, alice, tenant_a, bob
):
    from allauth.socialaccount.models import SocialAccount

    from apps.tenants import sso

    SsoPolicy.objects.create(tenant=tenant_a, connection="testidp", default_role="analyst")
    sso_sign_in(live_server.url, "dana")  # dana joins through the IdP
    SocialAccount.objects.create(user=alice, provider="testidp", uid="alice")
    sso.sso_policy_update(
        tenant=tenant_a,
        connection="testidp",
        required=True,
        groups_claim="groups",
        default_role="analyst",
        mappings="",
        actor=alice,
    )

    # bob's password is right, yet the workspace refuses it.
    s = requests.Session()
    form = s.get(f"{live_server.url}/accounts/login/")
    refused = s.post(
        form.url,
        data={
            "csrfmiddlewaretoken": _csrf(form.text),
            "login": "bob@example.com",
            "password": PASSWORD,
        },
    )
    assert "Acme requires single sign-on" in refused.text
    assert s.get(f"{live_server.url}/t/{tenant_a.slug}/", allow_redirects=False).status_code == 302

    # dana signs in again through the IdP and gets in.
    session, landed = sso_sign_in(live_server.url, "dana")
    assert landed.status_code == 200
    assert session.get(f"{live_server.url}/t/{tenant_a.slug}/").status_code == 200
