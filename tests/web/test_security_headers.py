"""Every response carries a strict Content-Security-Policy and a Permissions-Policy."""

import re

import pytest


def _csp(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part
    }


@pytest.mark.parametrize("path", ["/accounts/login/", "/offline/", "/manifest.webmanifest"])
def test_public_responses_carry_a_strict_csp(client, path):
    response = client.get(path)
    assert response.status_code == 200
    csp = _csp(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no hosts
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]  # the run page's WebSocket is same-origin
    assert csp["style-src"] == ["'self'"]
    # Inline <style> only by exact hash, never 'unsafe-inline'.
    assert csp["style-src-elem"][0] == "'self'"
    assert all(re.fullmatch(r"'sha256-[A-Za-z0-9+/]{43}='", h) for h in csp["style-src-elem"][1:])


def test_signed_in_pages_carry_the_csp_too(alice_client, tenant_a):
    response = alice_client.get(f"/t/{tenant_a.slug}/")
    assert response.status_code == 200
    assert _csp(response)["script-src"] == ["'self'"]


def test_responses_carry_a_permissions_policy_that_switches_off_unused_features(client):
    header = client.get("/accounts/login/")["Permissions-Policy"]
    features = dict(part.split("=", 1) for part in header.split(", "))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "browsing-topics"):
        assert features[feature] == "()", feature
    # Security keys for two-factor sign-in keep working on our own origin.
    assert features["publickey-credentials-get"] == "(self)"


def test_the_pages_hold_no_inline_script_or_handler(alice_client, tenant_a):
    for path in (f"/t/{tenant_a.slug}/", f"/t/{tenant_a.slug}/datasets/", "/offline/"):
        html = alice_client.get(path).content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert "hx-on" not in html, path


def test_htmx_runs_without_eval_and_without_injected_styles(alice_client, tenant_a):
    html = alice_client.get(f"/t/{tenant_a.slug}/").content.decode()
    assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html
