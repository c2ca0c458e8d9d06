from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.conftest import PASSWORD


def test_signing_in_is_audited_with_the_client_ip(alice, client):
    response = client.post(
        reverse("account_login"),
        {"login": alice.email, "password": PASSWORD},
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="auth.login")
    assert event.actor == alice
    assert event.ip == "203.0.113.7"


def test_a_failed_sign_in_is_audited_without_the_password(alice, client):
    client.post(reverse("account_login"), {"login": alice.email, "password": "wrong-password"})
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.actor is None
    assert event.details == {"identifier": alice.email}
    assert "wrong-password" not in str(event.details)


def test_signing_out_is_audited(alice_client, alice):
    alice_client.post(reverse("account_logout"))
    assert AuditEvent.objects.filter(action="auth.logout", actor=alice).count() == 1


def test_a_client_cannot_spoof_its_address_through_forwarded_for(alice, client):
    client.post(
        reverse("account_login"),
        {"login": alice.email, "password": PASSWORD},
        REMOTE_ADDR="198.51.100.1",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )
    assert AuditEvent.objects.get(action="auth.login").ip == "198.51.100.1"


def test_a_trusted_proxy_passes_on_the_client_address(alice, client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    client.post(
        reverse("account_login"),
        {"login": alice.email, "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.44, 127.0.0.1",
    )
    assert AuditEvent.objects.get(action="auth.login").ip == "192.0.2.44"


def test_creating_a_workspace_is_audited_in_the_same_transaction(alice):
    from apps.tenants.services import tenant_create

    tenant = tenant_create(name="Audited", owner=alice)
    event = AuditEvent.objects.get(action="tenant.created", tenant=tenant)
    assert event.target_type == "tenants.tenant"
    assert event.target_id == str(tenant.pk)
