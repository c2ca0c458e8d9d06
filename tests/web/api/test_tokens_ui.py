"""Token pages in the workspace settings: create (shown once), list, revoke; audited."""

from __future__ import annotations

import re

from apps.api.models import ApiToken
from apps.audit.models import AuditEvent

from .conftest import Api, assert_problem

URL = "/t/acme/settings/tokens/"


def test_a_member_creates_a_token_and_sees_it_once(bob_client, bob):
    r = bob_client.post(URL, {"name": "nightly", "scope": "write", "expires_in_days": 30})
    assert r.status_code == 200
    raw = re.search(r'value="(pyn_[A-Za-z0-9_-]{40})"', r.content.decode()).group(1)
    token = ApiToken.objects.get(user=bob)
    assert (token.name, token.scope, token.prefix) == ("nightly", "write", raw[4:12])
    assert token.expires_at is not None
    again = bob_client.get(URL).content.decode()
    assert raw not in again and f"pyn_{token.prefix}" in again and "nightly" in again
    assert Api(raw).get("/me").json()["email"] == "bob@example.com"
    event = AuditEvent.objects.get(action="token.created")
    assert raw not in str(event.details)


def test_the_list_shows_only_my_tokens_in_this_workspace(alice_client, bob_client):
    alice_client.post(URL, {"name": "alices", "scope": "read"})
    page = bob_client.get(URL).content.decode()
    assert "alices" not in page and "no tokens" in page


def test_a_token_is_revoked_by_post_and_stops_working(bob_client, bob):
    r = bob_client.post(URL, {"name": "t", "scope": "read"})
    raw = re.search(r'value="(pyn_[^"]+)"', r.content.decode()).group(1)
    token = ApiToken.objects.get(user=bob)
    assert bob_client.get(f"{URL}{token.pk}/revoke/").status_code == 405
    assert bob_client.post(f"{URL}{token.pk}/revoke/").status_code == 302
    assert_problem(Api(raw).get("/me"), 401)
    assert AuditEvent.objects.filter(action="token.revoked").count() == 1


def test_nobody_revokes_someone_elses_token(alice_client, bob_client, bob):
    bob_client.post(URL, {"name": "t", "scope": "read"})
    token = ApiToken.objects.get(user=bob)
    assert alice_client.post(f"{URL}{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_stranger_gets_404_for_the_token_page(charlie_client):
    assert charlie_client.get(URL).status_code == 404


def test_a_bad_form_creates_nothing(bob_client):
    r = bob_client.post(URL, {"name": "", "scope": "admin", "expires_in_days": 0})
    assert r.status_code == 400 and not ApiToken.objects.exists()


def test_the_token_page_is_never_cached(bob_client):
    assert "no-cache" in bob_client.get(URL)["Cache-Control"]
