"""Creating, renaming, switching to, transferring and deleting workspaces."""

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from apps.tenants.models import Membership, Role, Tenant

from .helpers import AuditCounter

# (url name, method) of every new tenant page/action, with the action it needs.
MANAGE_ACTIONS = [
    ("tenants:rename", {"name": "X"}),
    ("tenants:invite", {"email": "x@example.com", "role": "viewer"}),
]
OWN_ACTIONS = [
    ("tenants:transfer", {"membership": "0"}),
    ("tenants:delete", {"confirm_name": "Acme"}),
]


def _url(name, tenant, **kw):
    return reverse(name, kwargs={"tenant_slug": tenant.slug, **kw})


def test_a_signed_in_user_creates_a_workspace_and_owns_it(alice_client, alice):
    with AuditCounter("tenant.created") as audit:
        response = alice_client.post(reverse("tenant_create"), {"name": "Research"})
    tenant = Tenant.objects.get(name="Research")
    assert response["Location"] == f"/t/{tenant.slug}/"
    assert Membership.objects.get(tenant=tenant, user=alice).role == Role.OWNER
    assert audit.event.tenant_id == tenant.pk


def test_the_new_workspace_page_needs_sign_in(client, db):
    assert client.get(reverse("tenant_create")).status_code == 302


def test_a_blank_name_creates_nothing(alice_client, tenant_a):
    response = alice_client.post(reverse("tenant_create"), {"name": "   "})
    assert response.status_code == 400
    assert Tenant.objects.count() == 1


def test_the_switcher_offers_a_new_workspace_and_two_factor(alice_client, tenant_a):
    html = alice_client.get(_url("tenants:dashboard", tenant_a)).content.decode()
    assert reverse("tenant_create") in html
    assert reverse("mfa_index") in html


def test_an_admin_renames_the_workspace_and_the_trail_has_before_and_after(alice_client, tenant_a):
    with AuditCounter("tenant.renamed") as audit:
        alice_client.post(_url("tenants:rename", tenant_a), {"name": "Acme Labs"})
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Acme Labs"
    assert audit.event.details == {"before": "Acme", "after": "Acme Labs"}


@pytest.mark.parametrize(("name", "data"), MANAGE_ACTIONS + OWN_ACTIONS)
def test_a_stranger_gets_404_on_every_workspace_action(charlie_client, tenant_a, name, data):
    assert charlie_client.post(_url(name, tenant_a), data).status_code == 404


@pytest.mark.parametrize(("name", "data"), MANAGE_ACTIONS + OWN_ACTIONS)
@pytest.mark.parametrize("persona", ["vera_client", "bob_client"])
def test_viewers_and_analysts_get_403_on_every_workspace_action(
    request, tenant_a, persona, name, data
):
    c = request.getfixturevalue(persona)
    assert c.post(_url(name, tenant_a), data).status_code == 403
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Acme"


@pytest.mark.parametrize(("name", "data"), OWN_ACTIONS)
def test_an_admin_gets_403_on_owner_actions(alice, bob, bob_client, tenant_a, name, data):
    from apps.tenants.services import membership_set_role

    membership_set_role(
        membership=Membership.objects.get(user=bob, tenant=tenant_a), role=Role.ADMIN, actor=alice
    )
    assert bob_client.post(_url(name, tenant_a), data).status_code == 403
    assert Tenant.objects.filter(pk=tenant_a.pk).exists()


def test_the_settings_page_shows_the_role_matrix_to_every_member(vera_client, tenant_a):
    html = vera_client.get(_url("tenants:settings", tenant_a)).content.decode()
    assert 'id="role-matrix"' in html
    assert 'data-action="own"' in html
    assert 'id="invite-form"' not in html  # viewers see the matrix, not the management forms


def test_the_owner_sees_the_management_and_owner_forms(alice_client, tenant_a):
    html = alice_client.get(_url("tenants:settings", tenant_a)).content.decode()
    assert 'id="invite-form"' in html and 'id="owner-zone"' in html


def test_the_owner_transfers_ownership_and_becomes_admin(alice, bob, alice_client, tenant_a):
    bob_m = Membership.objects.get(user=bob, tenant=tenant_a)
    with AuditCounter("tenant.ownership_transferred") as audit:
        alice_client.post(_url("tenants:transfer", tenant_a), {"membership": bob_m.pk})
    assert Membership.objects.get(user=bob, tenant=tenant_a).role == Role.OWNER
    assert Membership.objects.get(user=alice, tenant=tenant_a).role == Role.ADMIN
    assert audit.event.details["to"] == bob.email
    assert not alice.has_perm("tenants.own_tenant", tenant_a)


def test_deleting_needs_the_exact_name(alice_client, tenant_a):
    response = alice_client.post(_url("tenants:delete", tenant_a), {"confirm_name": "acme"})
    assert response.status_code == 400
    assert Tenant.objects.filter(pk=tenant_a.pk).exists()


def test_the_owner_deletes_the_workspace_its_rows_groups_and_files(
    alice_client, alice, bob, tenant_a, django_capture_on_commit_callbacks, settings, tmp_path
):
    from apps.datasets.models import Dataset, Upload

    settings.MEDIA_ROOT = str(tmp_path)
    dataset = Dataset.objects.create(tenant=tenant_a, name="d")
    upload = Upload(
        tenant=tenant_a,
        dataset=dataset,
        original_name="a.csv",
        format="csv",
        size=8,
        sha256="0" * 64,
    )
    upload.file.save("a.csv", ContentFile(b"x,y\n1,2\n"), save=True)
    stored = upload.file.name
    assert default_storage.exists(stored)
    with AuditCounter("tenant.deleted") as audit, django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(_url("tenants:delete", tenant_a), {"confirm_name": "Acme"})
    assert response.status_code == 302
    assert not Tenant.objects.filter(pk=tenant_a.pk).exists()
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert not Group.objects.filter(name__startswith=f"tenant:{tenant_a.pk}:").exists()
    assert not default_storage.exists(stored)
    assert audit.event.tenant_id == tenant_a.pk and audit.event.details["files"] == 1
    assert bob_client_for(bob).get(f"/t/{tenant_a.slug}/").status_code == 404


def bob_client_for(user):
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c


def test_deleting_a_workspace_with_runs_removes_versions_runs_and_their_files(
    alice, tenant_a, settings, tmp_path, django_capture_on_commit_callbacks
):
    from apps.datasets.models import DatasetVersion
    from apps.runs.models import Run
    from apps.tenants.services import tenant_delete
    from tests.web.runs.factories import blobs, make_config, make_run, make_version

    settings.MEDIA_ROOT = str(tmp_path)
    version = make_version(tenant_a, blobs(50), user=alice)
    make_run(tenant_a, alice, version, make_config(tenant_a, alice))
    parquet = tmp_path / version.parquet.name
    assert parquet.exists()
    with django_capture_on_commit_callbacks(execute=True):
        tenant_delete(tenant=tenant_a, actor=alice, confirm_name="Acme")
    assert not Run.objects.filter(tenant_id=tenant_a.pk).exists()
    assert not DatasetVersion.objects.filter(tenant_id=tenant_a.pk).exists()
    assert not parquet.exists()


def test_a_rolled_back_deletion_keeps_the_files(
    alice, tenant_a, settings, tmp_path, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from apps.tenants.services import tenant_delete
    from tests.web.runs.factories import blobs, make_version

    settings.MEDIA_ROOT = str(tmp_path)
    version = make_version(tenant_a, blobs(50), user=alice)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            tenant_delete(tenant=tenant_a, actor=alice, confirm_name="Acme")
            raise RuntimeError("something later failed")
    assert (tmp_path / version.parquet.name).exists()
    assert Tenant.objects.filter(pk=tenant_a.pk).exists()
