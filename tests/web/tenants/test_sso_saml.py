"""SAML 2.0 sign-in through allauth's saml provider, with an identity provider played by the test:
a throwaway key and certificate, assertions signed with python3-saml/xmlsec. A signed response
answering our request signs the person in with the mapped role; a tampered one and a replayed
one are refused."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
import zlib
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from apps.tenants.models import Membership, SsoPolicy, SsoRoleMapping
from apps.tenants.sso_config import socialaccount_providers

IDP_ENTITY = "https://idp.test/saml"
IDP_SSO = "https://idp.test/saml/sso"
ACS = "http://127.0.0.1/accounts/saml/acme/acs/"
SP_ENTITY = "http://127.0.0.1/accounts/saml/acme/metadata/"


def _key_and_cert() -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test idp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def idp_keys():
    return _key_and_cert()


@pytest.fixture
def saml_connection(settings, idp_keys, tenant_a):
    _, cert = idp_keys
    settings.SOCIALACCOUNT_PROVIDERS = socialaccount_providers(
        "",
        json.dumps(
            [
                {
                    "id": "acme",
                    "name": "Acme SAML",
                    "idp": {"entity_id": IDP_ENTITY, "sso_url": IDP_SSO, "x509cert": cert},
                }
            ]
        ),
    )
    SsoPolicy.objects.create(tenant=tenant_a, connection="acme", default_role="viewer")
    SsoRoleMapping.objects.create(tenant=tenant_a, value="analysts", role="analyst")


def _browser() -> Client:
    return Client(HTTP_HOST="127.0.0.1")  # a browser always sends Host; python3-saml reads it


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_response(key: str, cert: str, in_response_to: str, email: str, groups: list[str]):
    """A SAML Response carrying one assertion signed by the IdP's key, as an IdP sends it."""
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(minutes=5)
    attrs = "".join(
        f'<saml:Attribute Name="{name}">'
        + "".join(f"<saml:AttributeValue>{v}</saml:AttributeValue>" for v in values)
        + "</saml:Attribute>"
        for name, values in (("email", [email]), ("groups", groups), ("uid", [email]))
    )
    assertion = (
        '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="_a{uuid.uuid4().hex}" Version="2.0" IssueInstant="{_iso(now)}">'
        f"<saml:Issuer>{IDP_ENTITY}</saml:Issuer>"
        "<saml:Subject>"
        '<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">'
        f"{email}</saml:NameID>"
        '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<saml:SubjectConfirmationData InResponseTo="{in_response_to}" '
        f'NotOnOrAfter="{_iso(later)}" Recipient="{ACS}"/>'
        "</saml:SubjectConfirmation></saml:Subject>"
        f'<saml:Conditions NotBefore="{_iso(now - dt.timedelta(minutes=1))}" '
        f'NotOnOrAfter="{_iso(later)}">'
        f"<saml:AudienceRestriction><saml:Audience>{SP_ENTITY}</saml:Audience>"
        "</saml:AudienceRestriction></saml:Conditions>"
        f'<saml:AuthnStatement AuthnInstant="{_iso(now)}" SessionIndex="_s{uuid.uuid4().hex}">'
        "<saml:AuthnContext><saml:AuthnContextClassRef>"
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
        "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
        f"<saml:AttributeStatement>{attrs}</saml:AttributeStatement>"
        "</saml:Assertion>"
    )
    signed = OneLogin_Saml2_Utils.add_sign(assertion, key, cert)
    if isinstance(signed, bytes):
        signed = signed.decode()
    return (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="_r{uuid.uuid4().hex}" Version="2.0" IssueInstant="{_iso(now)}" '
        f'Destination="{ACS}" InResponseTo="{in_response_to}">'
        f"<saml:Issuer>{IDP_ENTITY}</saml:Issuer>"
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
        f"</samlp:Status>{signed}</samlp:Response>"
    )


def start_sign_in(client: Client) -> tuple[str, str]:
    """Press the connection's button: allauth redirects to the IdP with an AuthnRequest."""
    page = client.get("/accounts/saml/acme/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    response = client.post("/accounts/saml/acme/login/", {"csrfmiddlewaretoken": csrf.group(1)})
    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == IDP_SSO
    query = parse_qs(location.query)
    request_xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()
    request_id = re.search(r'ID="([^"]+)"', request_xml).group(1)
    return request_id, query.get("RelayState", [""])[0]


def post_to_acs(client: Client, xml: str, relay_state: str):
    return client.post(
        "/accounts/saml/acme/acs/",
        {"SAMLResponse": base64.b64encode(xml.encode()).decode(), "RelayState": relay_state},
        follow=True,
    )


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_a_signed_response_signs_in_a_new_member_with_the_mapped_role(
    saml_connection, idp_keys, tenant_a
):
    client = _browser()
    request_id, relay = start_sign_in(client)
    xml = signed_response(*idp_keys, request_id, "sam@acme.example", ["analysts", "all"])

    post_to_acs(client, xml, relay)

    assert _signed_in(client)
    membership = Membership.objects.get(tenant=tenant_a, user__email="sam@acme.example")
    assert membership.role == "analyst"
    assert client.get(f"/t/{tenant_a.slug}/settings/").status_code == 200


def test_a_tampered_response_is_refused(saml_connection, idp_keys, tenant_a):
    client = _browser()
    request_id, relay = start_sign_in(client)
    xml = signed_response(*idp_keys, request_id, "sam@acme.example", ["viewers"])
    # Someone promotes themselves after the IdP signed.
    tampered = xml.replace(">viewers<", ">analysts<")
    assert tampered != xml

    page = post_to_acs(client, tampered, relay)

    assert not _signed_in(client)
    assert "Third-Party Login Failure" in page.content.decode() or page.status_code >= 400
    assert not Membership.objects.filter(user__email="sam@acme.example").exists()


def test_a_response_signed_by_another_key_is_refused(saml_connection, idp_keys, tenant_a):
    client = _browser()
    request_id, relay = start_sign_in(client)
    xml = signed_response(*_key_and_cert(), request_id, "mallory@acme.example", ["analysts"])

    post_to_acs(client, xml, relay)

    assert not _signed_in(client)
    assert not Membership.objects.filter(user__email="mallory@acme.example").exists()


def test_a_replayed_response_is_refused(saml_connection, idp_keys, tenant_a):
    client = _browser()
    request_id, relay = start_sign_in(client)
    xml = signed_response(*idp_keys, request_id, "sam@acme.example", ["analysts"])
    post_to_acs(client, xml, relay)
    assert _signed_in(client)
    client.post("/accounts/logout/")
    assert not _signed_in(client)

    # The same browser posts it again, and so does someone who captured it.
    post_to_acs(client, xml, relay)
    assert not _signed_in(client)
    attacker = _browser()
    post_to_acs(attacker, xml, relay)
    assert not _signed_in(attacker)


def test_the_service_provider_metadata_names_our_acs(saml_connection):
    response = _browser().get("/accounts/saml/acme/metadata/")
    assert response.status_code == 200
    assert ACS in response.content.decode()
