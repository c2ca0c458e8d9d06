"""Account security: two-factor sign-in, login rate limits, session rotation and timeouts, admin sign-in."""

import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.tenants import sessions
from tests.conftest import PASSWORD, _user

ROOT = Path(__file__).resolve().parents[3]


def _totp_now(secret: str) -> str:
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))


def _sign_in(client, email, password=PASSWORD, **extra):
    return client.post(reverse("account_login"), {"login": email, "password": password}, **extra)


# ---------------------------------------------------------------- two-factor
def test_after_activating_totp_sign_in_requires_the_code(
    alice, tenant_a, django_capture_on_commit_callbacks
):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY

    c = Client()
    _sign_in(c, alice.email)
    c.post(
        reverse("account_reauthenticate"), {"password": PASSWORD}
    )  # allauth asks before security changes
    c.get(reverse("mfa_activate_totp"))
    secret = c.session[SECRET_SESSION_KEY]
    with django_capture_on_commit_callbacks(execute=True):
        response = c.post(reverse("mfa_activate_totp"), {"code": _totp_now(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=alice, type="totp").exists()
    assert AuditEvent.objects.filter(action="mfa.enabled", actor=alice).count() == 1

    c.post(reverse("account_logout"))
    response = _sign_in(c, alice.email)
    assert response["Location"] == reverse("mfa_authenticate")
    assert c.get(f"/t/{tenant_a.slug}/").status_code == 302  # password alone does not sign in

    code = _totp_now(secret)
    cache.delete(
        f"allauth.mfa.totp.used?user={alice.pk}&code={code}"
    )  # Redis outlives test databases
    assert (
        c.post(
            reverse("mfa_authenticate"), {"code": "000000" if code != "000000" else "111111"}
        ).status_code
        == 200
    )
    response = c.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 302
    assert c.get(f"/t/{tenant_a.slug}/").status_code == 200


def test_the_two_factor_pages_live_under_accounts_2fa(alice_client, tenant_a):
    assert reverse("mfa_index") == "/accounts/2fa/"
    assert alice_client.get("/accounts/2fa/").status_code == 200


# ---------------------------------------------------------------- rate limits
def test_repeated_failed_sign_ins_are_refused_even_with_the_right_password(db):
    # Unique address and IP: the counters live in the real Redis, shared with other runs.
    user = _user(f"rl-{uuid.uuid4().hex[:10]}@example.com")
    ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    c = Client(REMOTE_ADDR=ip)
    for _ in range(5):
        assert "Too many" not in _sign_in(c, user.email, "wrong-password").content.decode()
    response = _sign_in(c, user.email)
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in c.session


def test_the_rate_limit_is_on_the_redis_cache(settings):
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert "login_failed" in settings.ACCOUNT_RATE_LIMITS


# ---------------------------------------------------------------- sessions
def test_signing_in_rotates_the_session_key(alice):
    from django.contrib.sessions.backends.db import SessionStore

    c = Client()
    pre = SessionStore()
    pre["visited"] = True
    pre.create()
    c.cookies["sessionid"] = pre.session_key
    _sign_in(c, alice.email)
    assert c.session.session_key != pre.session_key
    assert c.session["_auth_user_id"] == str(alice.pk)
    assert not SessionStore().exists(pre.session_key)


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        t = 1_900_000_000.0

    monkeypatch.setattr(sessions, "now", lambda: Clock.t)
    return Clock


def test_an_idle_session_ends_and_the_user_is_sent_to_sign_in(alice, tenant_a, clock, settings):
    c = Client()
    c.force_login(alice)
    url = f"/t/{tenant_a.slug}/"
    clock.t += settings.SESSION_IDLE_TIMEOUT - 60
    assert c.get(url).status_code == 200
    clock.t += settings.SESSION_IDLE_TIMEOUT - 60  # active again just in time: still signed in
    assert c.get(url).status_code == 200
    clock.t += settings.SESSION_IDLE_TIMEOUT
    response = c.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"
    assert "expired" in c.get(response["Location"]).content.decode()
    assert c.get(url).status_code == 302
    assert (
        AuditEvent.objects.filter(
            action="auth.logout", actor=alice, details__reason="idle timeout"
        ).count()
        == 1
    )


def test_an_active_session_still_ends_at_the_absolute_limit(alice, tenant_a, clock, settings):
    c = Client()
    c.force_login(alice)
    url = f"/t/{tenant_a.slug}/"
    steps = settings.SESSION_ABSOLUTE_TIMEOUT // 3600
    for _ in range(steps - 1):
        clock.t += 3600
        assert c.get(url).status_code == 200
    clock.t += 3600
    assert c.get(url).status_code == 302
    assert (
        AuditEvent.objects.filter(action="auth.logout", details__reason="absolute timeout").count()
        == 1
    )


def test_an_htmx_request_on_an_expired_session_is_redirected_by_header(
    alice, tenant_a, clock, settings
):
    c = Client()
    c.force_login(alice)
    clock.t += settings.SESSION_ABSOLUTE_TIMEOUT
    response = c.get(f"/t/{tenant_a.slug}/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith(reverse("account_login"))


# ---------------------------------------------------------------- admin
def test_the_admin_sign_in_goes_through_the_rate_limited_audited_form(client, db):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == f"{reverse('account_login')}?next=%2Fadmin%2F"


def test_staff_sign_in_to_the_admin_is_audited_and_reaches_it(db):
    staff = _user("ops@example.com")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    c = Client()
    response = c.post(
        f"{reverse('account_login')}?next=/admin/",
        {"login": staff.email, "password": PASSWORD, "next": "/admin/"},
    )
    assert response["Location"] == "/admin/"
    assert c.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.login", actor=staff).count() == 1


def test_a_signed_in_non_staff_user_is_refused_the_admin(alice_client):
    assert alice_client.get(reverse("admin_login_redirect")).status_code == 403


def test_the_admin_refusal_says_how_to_get_a_staff_account(alice_client):
    response = alice_client.get("/admin/", follow=True)  # the admin sends them to its sign-in
    assert response.status_code == 403
    page = response.content.decode()
    assert "alice@example.com" in page and "not a staff account" in page
    assert "make admin" in page and "createsuperuser" in page


def test_the_admin_login_ignores_an_offsite_next(db):
    staff = _user("ops2@example.com")
    staff.is_staff = True
    staff.save()
    c = Client()
    c.force_login(staff)
    assert c.get("/admin/login/?next=https://evil.example/")["Location"] == "/admin/"


def test_staff_deactivate_a_user_from_the_admin_and_it_is_audited(bob, bob_client, tenant_a):
    ops = _user("ops3@example.com")
    ops.is_staff = ops.is_superuser = True
    ops.save()
    c = Client()
    c.force_login(ops)
    response = c.post(
        reverse("admin:auth_user_changelist"),
        {"action": "deactivate", "_selected_action": [bob.pk]},
    )
    assert response.status_code == 302
    bob.refresh_from_db()
    assert not bob.is_active
    assert (
        AuditEvent.objects.filter(
            action="user.deactivated", actor=ops, target_id=str(bob.pk)
        ).count()
        == 1
    )
    assert bob_client.get(f"/t/{tenant_a.slug}/").status_code == 302


def test_audit_events_cannot_be_deleted_from_the_admin(db, alice):
    ops = _user("ops4@example.com")
    ops.is_staff = ops.is_superuser = True
    ops.save()
    c = Client()
    c.force_login(ops)
    html = c.get(reverse("admin:audit_auditevent_changelist")).content.decode()
    assert "delete_selected" not in html
    event = AuditEvent.objects.first()
    assert (
        c.post(
            reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_an_admin_role_change_moves_the_guardian_groups_and_is_audited(alice, bob, tenant_a):
    from apps.tenants.models import Membership

    ops = _user("ops5@example.com")
    ops.is_staff = ops.is_superuser = True
    ops.save()
    c = Client()
    c.force_login(ops)
    m = Membership.objects.get(user=bob, tenant=tenant_a)
    c.post(reverse("admin:tenants_membership_change", args=[m.pk]), {"role": "viewer"})
    assert Membership.objects.get(pk=m.pk).role == "viewer"
    assert not bob.has_perm("tenants.create_content", tenant_a)
    assert AuditEvent.objects.filter(action="membership.role_changed", actor=ops).count() == 1


# ---------------------------------------------------------------- e-mail verification
def _setting_in(env_name: str, setting: str) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYNOMALY_ENV", "ACCOUNT_EMAIL_VERIFICATION")
    }
    env.update(PYNOMALY_ENV=env_name, SECRET_KEY="x" * 60, ALLOWED_HOSTS="example.com")
    env["PYNOMALY_SECRETS_KEYS"] = "bUVyMGNrWWxUbzN1bFA5b1NwdUlXbG5xR3RvY3kxd2s="
    code = f"from django.conf import settings; print(settings.{setting})"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.stdout.strip().splitlines()[-1]


def test_e_mail_verification_is_mandatory_in_production_and_optional_in_development():
    assert _setting_in("production", "ACCOUNT_EMAIL_VERIFICATION") == "mandatory"
    assert _setting_in("development", "ACCOUNT_EMAIL_VERIFICATION") == "optional"
