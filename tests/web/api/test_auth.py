"""Tokens: every request re-checks the token, the user, the membership and the role."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.api.models import ApiToken
from apps.audit.models import AuditEvent

from .conftest import Api, assert_problem, make_token


def test_me_tells_who_the_token_acts_for(alice_api, alice):
    r = alice_api.get("/me")
    assert r.status_code == 200
    assert r.json() == {
        "id": alice.pk,
        "email": "alice@example.com",
        "tenant": {"slug": "acme", "name": "Acme"},
        "role": "owner",
        "scope": "write",
        "token_expires_at": None,
    }


def test_tenants_lists_the_users_memberships(bob_api, bob, tenant_b):
    from apps.tenants.services import membership_add

    membership_add(tenant=tenant_b, user=bob, role="viewer")
    r = bob_api.get("/tenants")
    assert r.json() == {
        "items": [
            {"slug": "acme", "name": "Acme", "role": "analyst"},
            {"slug": "bravo", "name": "Bravo", "role": "viewer"},
        ]
    }


def test_a_token_looks_like_pyn_and_40_urlsafe_characters_and_only_its_hash_is_stored(
    alice, tenant_a
):
    token, raw = make_token(alice, tenant_a)
    assert raw.startswith("pyn_") and len(raw) == 44
    assert raw[4:].replace("-", "").replace("_", "").isalnum()
    assert raw not in (token.token_hash, token.prefix) and token.prefix == raw[4:12]
    assert not ApiToken.objects.filter(token_hash=raw).exists()


def test_a_missing_token_is_refused_with_401(anon_api):
    body = assert_problem(anon_api.get("/me"), 401)
    assert "Bearer" in body["detail"]


def test_an_unknown_token_is_refused_with_401(db):
    assert_problem(Api("pyn_" + "x" * 40).get("/me"), 401)
    assert_problem(Api("not-even-a-token").get("/me"), 401)


def test_a_revoked_token_stops_working_at_once(alice, tenant_a):
    from apps.api.services import token_revoke

    token, raw = make_token(alice, tenant_a)
    api = Api(raw)
    assert api.get("/me").status_code == 200
    token_revoke(token=token, actor=alice)
    assert_problem(api.get("/me"), 401)


def test_an_expired_token_is_refused(alice, tenant_a):
    token, raw = make_token(alice, tenant_a, expires_in_days=1)
    assert Api(raw).get("/me").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_problem(Api(raw).get("/me"), 401)


def test_a_removed_members_token_stops_working_on_the_next_request(alice, bob, tenant_a):
    from apps.tenants.models import Membership
    from apps.tenants.services import membership_remove

    api = Api(make_token(bob, tenant_a)[1])
    assert api.get("/me").status_code == 200
    membership_remove(membership=Membership.objects.get(user=bob, tenant=tenant_a), actor=alice)
    assert_problem(api.get("/me"), 401)
    assert_problem(api.get("/datasets"), 401)


def test_a_deactivated_users_token_stops_working(bob, tenant_a):
    api = Api(make_token(bob, tenant_a)[1])
    assert api.get("/me").status_code == 200
    bob.is_active = False
    bob.save()
    assert_problem(api.get("/me"), 401)


def test_a_role_change_counts_on_the_next_request(alice, bob, tenant_a):
    from apps.tenants.models import Membership
    from apps.tenants.services import membership_set_role

    api = Api(make_token(bob, tenant_a)[1])
    assert (
        api.post("/detector-configs", json={}).status_code == 422
    )  # allowed to try: validation answers
    membership_set_role(
        membership=Membership.objects.get(user=bob, tenant=tenant_a), role="viewer", actor=alice
    )
    assert_problem(api.post("/detector-configs", json={}), 403)
    assert api.get("/me").json()["role"] == "viewer"


def test_use_is_recorded_on_the_token(alice, tenant_a):
    token, raw = make_token(alice, tenant_a)
    Api(raw).get("/me")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_creating_and_revoking_tokens_is_audited_without_the_token(alice, tenant_a):
    from apps.api.services import token_revoke

    token, raw = make_token(alice, tenant_a)
    token_revoke(token=token, actor=alice)
    events = AuditEvent.objects.filter(action__in=["token.created", "token.revoked"]).order_by("id")
    assert [e.action for e in events] == ["token.created", "token.revoked"]
    for e in events:
        assert raw not in str(e.details) and token.token_hash not in str(e.details)
        assert e.details["prefix"] == token.prefix


def test_unknown_api_paths_answer_a_problem_not_the_html_page(alice_api):
    assert_problem(alice_api.get("/no-such-thing"), 404)


def test_malformed_json_is_a_400_problem(alice_api):
    r = alice_api.client.post(
        "/api/v1/detector-configs",
        b"{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {alice_api.raw}"},
    )
    body = assert_problem(r, 400)
    assert "JSON" in body["detail"]


def test_the_docs_page_uses_our_static_files_and_no_cdn(client):
    r = client.get("/api/v1/docs")
    assert r.status_code == 200
    html = r.content.decode()
    assert "/static/ninja/" in html
    assert (
        "cdn" not in html.lower() and "unpkg" not in html.lower() and "jsdelivr" not in html.lower()
    )


def test_the_openapi_schema_describes_the_endpoints_and_bearer_auth(client):
    schema = client.get("/api/v1/openapi.json").json()
    for p in (
        "/api/v1/me",
        "/api/v1/datasets",
        "/api/v1/runs/{run_id}/results",
        "/api/v1/models/{model_id}/score",
    ):
        assert p in schema["paths"], p
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


def test_api_role_checks_agree_with_guardian_for_every_role(alice, tenant_a):
    """The API reads the role from the membership row through ROLE_PERMISSIONS; guardian's groups
    are built from the same table, so both answer alike for every role and action."""
    from apps.tenants.access import user_can
    from apps.tenants.models import Membership, Role
    from apps.tenants.permissions import ACTIONS, role_allows
    from apps.tenants.services import membership_add, membership_set_role
    from tests.conftest import _user

    user = _user("rolf@example.com")
    membership_add(tenant=tenant_a, user=user, role="viewer")
    api = Api(make_token(user, tenant_a, scope="write")[1])
    for role in (Role.VIEWER, Role.ANALYST, Role.ADMIN, Role.OWNER):
        if Membership.objects.get(user=user, tenant=tenant_a).role != role:
            membership_set_role(
                membership=Membership.objects.get(user=user, tenant=tenant_a),
                role=role,
                actor=alice,
            )
        fresh = type(user).objects.get(pk=user.pk)  # guardian caches permissions on the user object
        assert [role_allows(role, a) for a in ACTIONS] == [
            user_can(fresh, tenant_a, a) for a in ACTIONS
        ], role
        assert api.get("/me").json()["role"] == role
        may_create = (
            api.post("/detector-configs", json={}).status_code == 422
        )  # past auth: validation answers
        assert may_create == user_can(fresh, tenant_a, "create"), role


def test_an_authenticated_request_costs_one_query_for_token_user_membership_and_role(
    alice_api, django_assert_num_queries
):
    assert alice_api.get("/me").status_code == 200  # the first use also records last_used_at
    with django_assert_num_queries(1):
        assert alice_api.get("/me").status_code == 200


def test_last_used_at_is_written_at_most_once_a_minute(alice, tenant_a, django_assert_num_queries):
    token, raw = make_token(alice, tenant_a)
    api = Api(raw)
    api.get("/me")
    token.refresh_from_db()
    first = token.last_used_at
    api.get("/me")
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(seconds=61))
    with django_assert_num_queries(2):  # the lookup and the write
        api.get("/me")
    token.refresh_from_db()
    assert token.last_used_at > first
