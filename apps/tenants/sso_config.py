"""The operator's single sign-on connections, read from the environment into allauth's settings.

Pure Python (settings.py imports it before Django is set up). Two JSON lists:

``SSO_OIDC_PROVIDERS``: ``[{"id": "keycloak", "name": "Keycloak", "server_url": "https://…/realms/x",
"client_id": "pynomaly", "secret": "…"}]`` — any OpenID Connect issuer (Keycloak, Entra ID,
Okta, Google, …) through allauth's generic ``openid_connect`` provider.

``SSO_SAML_PROVIDERS``: ``[{"id": "acme", "name": "Acme SAML", "idp": {"entity_id": "…",
"sso_url": "…", "x509cert": "…"} or {"entity_id": "…", "metadata_url": "…"}}]`` — SAML 2.0
through allauth's ``saml`` provider; the SP's URLs live under ``/accounts/saml/<id>/``.

The ``id`` of each entry is the *connection* a workspace binds to in its SSO settings.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

# The attributes allauth reads from a SAML assertion; the workspace's groups attribute is read
# from the raw attributes, so it needs no mapping here.
SAML_ATTRIBUTE_MAPPING = {
    "uid": ["urn:oasis:names:tc:SAML:attribute:subject-id", "uid"],
    "email": [
        "email",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    ],
    "email_verified": ["email_verified"],
    "first_name": ["first_name", "urn:oid:2.5.4.42"],
    "last_name": ["last_name", "urn:oid:2.5.4.4"],
}


class SsoConfigError(ValueError):
    """The environment's SSO configuration is malformed; the message names the entry."""


def _entries(raw: str, variable: str) -> list[dict[str, Any]]:
    if not raw.strip():
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SsoConfigError(f"{variable} is not valid JSON: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise SsoConfigError(f"{variable} must be a JSON list of objects")
    return value


def _require(entry: dict[str, Any], keys: tuple[str, ...], variable: str) -> None:
    missing = [k for k in keys if not entry.get(k)]
    if missing:
        raise SsoConfigError(f"{variable} entry {entry.get('id')!r} lacks {', '.join(missing)}")
    if not _ID.match(str(entry["id"])):
        raise SsoConfigError(
            f"{variable} id {entry['id']!r} must be lower-case letters, digits, - or _"
        )


def oidc_app(entry: dict[str, Any]) -> dict[str, Any]:
    _require(entry, ("id", "server_url", "client_id"), "SSO_OIDC_PROVIDERS")
    return {
        "provider_id": entry["id"],
        "name": entry.get("name") or entry["id"],
        "client_id": entry["client_id"],
        "secret": entry.get("secret", ""),
        "settings": {
            "server_url": entry["server_url"],
            # PKCE on: the code is useless to whoever intercepts the redirect.
            "oauth_pkce_enabled": entry.get("pkce", True),
            **({"scope": entry["scope"]} if entry.get("scope") else {}),
            **(
                {"token_auth_method": entry["token_auth_method"]}
                if entry.get("token_auth_method")
                else {}
            ),
        },
    }


def saml_app(entry: dict[str, Any]) -> dict[str, Any]:
    _require(entry, ("id", "idp"), "SSO_SAML_PROVIDERS")
    idp = entry["idp"]
    if not isinstance(idp, dict) or not idp.get("entity_id"):
        raise SsoConfigError(f"SSO_SAML_PROVIDERS entry {entry['id']!r}: idp needs entity_id")
    if not idp.get("metadata_url") and not (idp.get("sso_url") and idp.get("x509cert")):
        raise SsoConfigError(
            f"SSO_SAML_PROVIDERS entry {entry['id']!r}: idp needs metadata_url, "
            "or sso_url and x509cert"
        )
    advanced = {
        # Signed assertions only; IdP-initiated logins (no request of ours to answer) refused,
        # so every accepted response answers a request this browser started, once.
        "want_assertion_signed": True,
        "reject_idp_initiated_sso": True,
        "strict": True,
        **entry.get("advanced", {}),
    }
    return {
        "provider_id": entry["id"],
        "name": entry.get("name") or entry["id"],
        "client_id": entry["id"],  # allauth's "organization slug" in the SAML URLs
        "settings": {
            "idp": idp,
            "sp": entry.get("sp", {}),
            "attribute_mapping": entry.get("attribute_mapping", SAML_ATTRIBUTE_MAPPING),
            "advanced": advanced,
        },
    }


def socialaccount_providers(oidc_json: str, saml_json: str) -> dict[str, Any]:
    """allauth's ``SOCIALACCOUNT_PROVIDERS`` for the configured connections."""
    oidc = [oidc_app(e) for e in _entries(oidc_json, "SSO_OIDC_PROVIDERS")]
    saml = [saml_app(e) for e in _entries(saml_json, "SSO_SAML_PROVIDERS")]
    ids = [a["provider_id"] for a in oidc + saml]
    if len(ids) != len(set(ids)):
        raise SsoConfigError("SSO connection ids must be unique across OIDC and SAML")
    return {
        "openid_connect": {"APPS": oidc, "OAUTH_PKCE_ENABLED": True},
        "saml": {"APPS": saml},
    }


def connections(providers: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, label) of every configured connection, for the workspace's SSO form."""
    out = []
    for kind, label in (("openid_connect", "OpenID Connect"), ("saml", "SAML")):
        for app in providers.get(kind, {}).get("APPS", []):
            out.append((app["provider_id"], f"{app['name']} ({label})"))
    return out


def form_action_sources(providers: dict[str, Any]) -> list[str]:
    """Origins the sign-in forms post (and are redirected) to: each identity provider's.

    Browsers apply the CSP ``form-action`` directive to the redirects after a form post too,
    so allauth's "Continue" form, which redirects to the IdP, needs the IdP's origin there.
    """
    from urllib.parse import urlsplit

    urls = [
        a["settings"]["server_url"] for a in providers.get("openid_connect", {}).get("APPS", [])
    ]
    for app in providers.get("saml", {}).get("APPS", []):
        idp = app["settings"]["idp"]
        urls.append(idp.get("sso_url") or idp.get("metadata_url") or "")
    origins = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
    return origins
