"""Receivers check Pynomaly's webhook signature with the SDK alone (no Django)."""

import hashlib
import hmac

import pytest

from pynomaly.client.webhooks import SignatureInvalid, sign, signature, verify

BODY = b'{"idempotency_key":"k","event":"alert.triggered"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(b"whsec_x", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature("whsec_x", 1700000000, BODY) == f"sha256={expected}"


def test_a_signed_request_verifies_and_a_changed_body_or_secret_does_not():
    headers = sign("whsec_x", BODY, now=1700000000)
    assert verify("whsec_x", headers, BODY, now=1700000010) == 1700000000
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify("whsec_x", headers, BODY + b" ", now=1700000010)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify("whsec_y", headers, BODY, now=1700000010)


def test_an_old_or_unsigned_request_is_refused_as_a_replay():
    headers = sign("whsec_x", BODY, now=1700000000)
    with pytest.raises(SignatureInvalid, match="replay"):
        verify("whsec_x", headers, BODY, now=1700000000 + 301)
    with pytest.raises(SignatureInvalid, match="Timestamp"):
        verify("whsec_x", {}, BODY)
