"""Invitations: e-mailed, expiring, single-use, revocable, for the invited address only."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.tenants.models import Invitation, Membership, Role
from apps.tenants.services import invitation_create
from tests.conftest import PASSWORD, _user

from .helpers import AuditCounter


def _invite(tenant, actor, email="dora@example.com", role=Role.ANALYST):
    return invitation_create(tenant=tenant, email=email, role=role, actor=actor)


@pytest.fixture
def dora(db):
    return _user("dora@example.com")


def _client(user):
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c


def test_an_admin_invites_by_e_mail_and_the_link_arrives(
    alice_client, tenant_a, django_capture_on_commit_callbacks
):
    with AuditCounter("invitation.sent") as audit, django_capture_on_commit_callbacks(execute=True):
        alice_client.post(
            reverse("tenants:invite", kwargs={"tenant_slug": tenant_a.slug}),
            {"email": "dora@example.com", "role": "analyst"},
        )
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dora@example.com"]
    assert "/invitations/" in mail.outbox[0].body
    assert audit.event.details["email"] == "dora@example.com"
    assert Invitation.objects.get().expires_at > timezone.now() + timedelta(days=6)


def test_the_token_is_stored_only_as_a_hash_and_never_in_the_trail(alice, tenant_a):
    invitation, token = _invite(tenant_a, alice)
    assert token not in invitation.token_hash
    assert not any(token in str(e.details) for e in AuditEvent.objects.all())


def test_the_invitee_accepts_and_joins_with_the_chosen_role(alice, tenant_a, dora):
    _, token = _invite(tenant_a, alice)
    c = _client(dora)
    assert (
        "Join Acme" in c.get(reverse("invitation_accept", kwargs={"token": token})).content.decode()
    )
    with AuditCounter("invitation.accepted") as audit:
        response = c.post(reverse("invitation_accept", kwargs={"token": token}))
    assert response["Location"] == f"/t/{tenant_a.slug}/"
    assert Membership.objects.get(user=dora, tenant=tenant_a).role == Role.ANALYST
    assert dora.has_perm("tenants.create_content", tenant_a)
    assert (
        audit.count == 1
        and not AuditEvent.objects.filter(
            action="membership.added", tenant=tenant_a, details__user="dora@example.com"
        ).exists()
    )


def test_an_invitation_works_once(alice, tenant_a, dora):
    _, token = _invite(tenant_a, alice)
    url = reverse("invitation_accept", kwargs={"token": token})
    _client(dora).post(url)
    Membership.objects.filter(user=dora).delete()
    response = _client(dora).post(url)
    assert response.status_code == 410
    assert not Membership.objects.filter(user=dora, tenant=tenant_a).exists()


def test_an_expired_invitation_is_refused(alice, tenant_a, dora):
    invitation, token = _invite(tenant_a, alice)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert (
        _client(dora).post(reverse("invitation_accept", kwargs={"token": token})).status_code == 410
    )
    assert not Membership.objects.filter(user=dora, tenant=tenant_a).exists()


def test_a_revoked_invitation_is_refused(alice_client, alice, tenant_a, dora):
    invitation, token = _invite(tenant_a, alice)
    with AuditCounter("invitation.revoked") as audit:
        alice_client.post(
            reverse(
                "tenants:invitation_revoke",
                kwargs={"tenant_slug": tenant_a.slug, "pk": invitation.pk},
            )
        )
    assert audit.count == 1
    assert (
        _client(dora).post(reverse("invitation_accept", kwargs={"token": token})).status_code == 410
    )
    assert not Membership.objects.filter(user=dora, tenant=tenant_a).exists()


def test_someone_signed_in_with_another_address_cannot_accept(alice, tenant_a, charlie):
    _, token = _invite(tenant_a, alice)
    response = _client(charlie).post(reverse("invitation_accept", kwargs={"token": token}))
    assert response.status_code == 403
    assert "different e-mail address" in response.content.decode()
    assert not Membership.objects.filter(user=charlie, tenant=tenant_a).exists()
    assert Invitation.objects.get().status == Invitation.Status.PENDING


def test_an_unknown_token_answers_404(client, db):
    assert client.get(reverse("invitation_accept", kwargs={"token": "nope"})).status_code == 404


def test_a_visitor_signs_up_with_the_invited_address_and_lands_on_the_accept_page(
    alice, tenant_a, client
):
    _, token = _invite(tenant_a, alice, email="erin@example.com")
    url = reverse("invitation_accept", kwargs={"token": token})
    assert "Sign up" in client.get(url).content.decode()
    response = client.post(
        reverse("account_signup"),
        {"email": "erin@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response["Location"] == url
    client.post(url)
    assert (
        Membership.objects.get(user__email="erin@example.com", tenant=tenant_a).role == Role.ANALYST
    )


def test_a_visitor_signs_in_and_lands_on_the_accept_page(alice, tenant_a, dora, client):
    _, token = _invite(tenant_a, alice)
    url = reverse("invitation_accept", kwargs={"token": token})
    client.get(url)
    response = client.post(reverse("account_login"), {"login": dora.email, "password": PASSWORD})
    assert response["Location"] == url


@pytest.mark.parametrize("persona", ["vera_client", "bob_client", "charlie_client"])
def test_only_admins_invite_or_revoke(request, alice, tenant_a, persona):
    c = request.getfixturevalue(persona)
    invitation, _ = _invite(tenant_a, alice)
    expected = 404 if persona == "charlie_client" else 403
    assert (
        c.post(
            reverse("tenants:invite", kwargs={"tenant_slug": tenant_a.slug}),
            {"email": "x@example.com", "role": "viewer"},
        ).status_code
        == expected
    )
    assert (
        c.post(
            reverse(
                "tenants:invitation_revoke",
                kwargs={"tenant_slug": tenant_a.slug, "pk": invitation.pk},
            )
        ).status_code
        == expected
    )
    assert Invitation.objects.get().status == Invitation.Status.PENDING


def test_an_invitation_of_another_workspace_cannot_be_revoked_from_mine(
    charlie_client, alice, tenant_a, tenant_b
):
    invitation, _ = _invite(tenant_a, alice)
    url = reverse(
        "tenants:invitation_revoke", kwargs={"tenant_slug": tenant_b.slug, "pk": invitation.pk}
    )
    assert charlie_client.post(url).status_code == 404


def test_nobody_is_invited_as_owner(alice, tenant_a):
    from apps.tenants.services import TenantRuleError

    with pytest.raises(TenantRuleError):
        _invite(tenant_a, alice, role=Role.OWNER)


def _send_invitation(client, tenant, email="dora@example.com", follow=True):
    return client.post(
        reverse("tenants:invite", kwargs={"tenant_slug": tenant.slug}),
        {"email": email, "role": "analyst"},
        follow=follow,
    )


def test_with_mail_on_the_console_the_sender_sees_the_link_once_and_it_works(
    alice_client, tenant_a, dora, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    page = _send_invitation(alice_client, tenant_a).content.decode()
    assert "will not receive the invitation" in page
    link = re.search(
        r'id="invitation-link-url" value="(http://testserver/invitations/[\w-]+/)"', page
    )
    assert link, page
    accept = _client(dora).get(link.group(1).removeprefix("http://testserver"))
    assert "Join Acme" in accept.content.decode()
    # shown once: the next visit of the settings page no longer has it
    again = alice_client.get(reverse("tenants:settings", kwargs={"tenant_slug": tenant_a.slug}))
    assert 'id="invitation-link"' not in again.content.decode()


def test_the_link_is_shown_to_no_other_admin(alice, alice_client, tenant_a, bob, settings):
    from apps.tenants.services import membership_set_role

    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    membership = Membership.objects.get(tenant=tenant_a, user=bob)
    membership_set_role(membership=membership, role=Role.ADMIN, actor=alice)
    _send_invitation(alice_client, tenant_a, follow=False)  # alice has not seen it yet
    page = _client(bob).get(reverse("tenants:settings", kwargs={"tenant_slug": tenant_a.slug}))
    assert "dora@example.com" in page.content.decode()  # the pending invitation, not its link
    assert 'id="invitation-link"' not in page.content.decode()


def test_with_real_mail_the_link_is_not_shown(alice_client, tenant_a, settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    page = _send_invitation(alice_client, tenant_a).content.decode()
    assert "Invitation sent to dora@example.com" in page
    assert 'id="invitation-link"' not in page and "testserver/invitations/" not in page
