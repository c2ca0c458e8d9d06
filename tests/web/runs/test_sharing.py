"""Sharing one run's results with someone outside the workspace: who may share, what they see, revoking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from tests.conftest import _client_for, _user

from .test_results_fixtures import results_env, small_run, url  # noqa: F401

READ_URLS = ["results", "results_table", "threshold_preview", "download_csv", "download_parquet"]


@pytest.fixture
def sam(db):
    """Sam has an account and no workspace: runs are shared with him."""
    return _user("sam@example.com")


@pytest.fixture
def sam_client(sam):
    return _client_for(sam)


@pytest.fixture
def run(tenant_a):
    return small_run(tenant_a)


def share_url(run) -> str:
    return reverse("runs:share", kwargs={"tenant_slug": run.tenant.slug, "run_id": run.pk})


def _share(run, email="sam@example.com", **kwargs):
    from apps.runs.sharing import run_share

    return run_share(
        run=run,
        email=email,
        expires_at=kwargs.get("expires_at"),
        actor=run.tenant.memberships.first().user,
    )


# ---------------------------------------------------------------- sharing
def test_an_analyst_shares_a_run_by_email_and_it_is_audited(bob_client, run, sam):
    until = (timezone.localdate() + timedelta(days=7)).isoformat()
    response = bob_client.post(share_url(run), {"email": "SAM@example.com", "until": until})

    assert response.status_code == 302
    share = run.shares.get()
    assert share.user == sam
    assert timezone.localtime(share.expires_at).date().isoformat() > until  # holds through that day
    assert sam.has_perm("runs.view_shared_run", run)
    event = AuditEvent.objects.get(action="run.shared")
    assert event.tenant_id == run.tenant_id and event.target_id == str(run.pk)
    assert (
        event.details["email"] == "sam@example.com"
        and event.details["expires_at"] == share.expires_at.isoformat()
    )


def test_a_viewer_may_not_share(vera_client, run, sam):
    assert vera_client.get(share_url(run)).status_code == 403
    assert vera_client.post(share_url(run), {"email": "sam@example.com"}).status_code == 403
    assert not run.shares.exists()


def test_sharing_with_an_unknown_address_is_refused_with_a_reason(alice_client, run):
    response = alice_client.post(share_url(run), {"email": "nobody@example.com"})
    assert response.status_code == 400
    assert "No account uses nobody@example.com" in response.content.decode()
    assert not AuditEvent.objects.filter(action="run.shared").exists()


def test_sharing_with_a_member_is_refused(alice_client, run, vera):
    response = alice_client.post(share_url(run), {"email": "vera@example.com"})
    assert response.status_code == 400
    assert "member of this workspace" in response.content.decode()


def test_an_expiry_in_the_past_is_refused(alice_client, run, sam):
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = alice_client.post(share_url(run), {"email": "sam@example.com", "until": yesterday})
    assert response.status_code == 400
    assert not run.shares.exists()


def test_a_stranger_cannot_open_the_share_page_of_alices_run(charlie_client, run):
    assert charlie_client.get(share_url(run)).status_code == 404


# ---------------------------------------------------------------- what the shared user sees
@pytest.mark.parametrize("name", READ_URLS)
def test_the_shared_user_reads_every_results_url_of_the_run(sam_client, run, sam, name):
    _share(run)
    response = sam_client.get(url(name, run))
    assert response.status_code == 200


def test_the_shared_results_page_shows_no_workspace_navigation_or_saving(sam_client, run, sam):
    _share(run)
    html = sam_client.get(url("results", run)).content.decode()
    assert f"Results of run #{run.pk}" in html
    assert 'id="main-nav"' not in html
    assert 'id="threshold-save-form"' not in html
    assert "Compare…" not in html and 'id="share-link"' not in html
    assert (
        f'href="{reverse("runs:detail", kwargs={"tenant_slug": run.tenant.slug, "run_id": run.pk})}"'
        not in html
    )


def test_the_shared_user_gets_404_everywhere_else_in_the_tenant(sam_client, run, sam, tenant_a):
    _share(run)
    other = small_run(tenant_a, seed=2)
    slug = tenant_a.slug
    for path in [
        f"/t/{slug}/",
        f"/t/{slug}/datasets/",
        f"/t/{slug}/runs/",
        f"/t/{slug}/runs/{run.pk}/",
        f"/t/{slug}/runs/compare/?a={run.pk}&b={other.pk}",
        url("results", other),
        url("download_csv", other),
        f"/t/{slug}/datasets/{run.dataset_version.dataset_id}/",
        f"/t/{slug}/settings/",
    ]:
        assert sam_client.get(path).status_code == 404, path
    response = sam_client.post(url("threshold_save", run), {"threshold": "0.5"})
    assert response.status_code == 404
    run.refresh_from_db()
    assert run.threshold == 0.9


def test_the_share_only_works_under_the_runs_own_tenant(sam_client, run, sam, tenant_b):
    _share(run)
    wrong = reverse("runs:results", kwargs={"tenant_slug": tenant_b.slug, "run_id": run.pk})
    assert sam_client.get(wrong).status_code == 404


def test_the_shared_with_me_page_lists_live_shares_only(sam_client, run, sam, tenant_a):
    _share(run)
    expired = small_run(tenant_a, seed=3)
    share = _share(expired, expires_at=timezone.now() + timedelta(hours=1))
    share.expires_at = timezone.now() - timedelta(seconds=1)
    share.save()

    html = sam_client.get(reverse("shared_with_me")).content.decode()
    assert url("results", run) in html
    assert url("results", expired) not in html
    assert 'id="shared-link"' in html  # sam has no workspace: the link sits in the header


# ---------------------------------------------------------------- expiry and revoking
def test_an_expired_share_answers_404_on_the_next_request(sam_client, run, sam):
    share = _share(run, expires_at=timezone.now() + timedelta(hours=1))
    assert sam_client.get(url("results", run)).status_code == 200
    share.expires_at = timezone.now() - timedelta(seconds=1)
    share.save()
    assert sam_client.get(url("results", run)).status_code == 404


def test_revoking_takes_effect_on_the_next_request_and_is_audited(
    alice_client, sam_client, run, sam
):
    share = _share(run)
    assert sam_client.get(url("results", run)).status_code == 200

    revoke = reverse(
        "runs:share_revoke",
        kwargs={"tenant_slug": run.tenant.slug, "run_id": run.pk, "share_id": share.pk},
    )
    assert alice_client.post(revoke).status_code == 302

    assert sam_client.get(url("results", run)).status_code == 404
    assert not run.shares.exists()
    assert not sam.has_perm("runs.view_shared_run", run)
    event = AuditEvent.objects.get(action="run.share_revoked")
    assert event.details["email"] == "sam@example.com"


def test_the_permission_alone_without_a_share_row_admits_nobody(sam_client, run, sam):
    from guardian.shortcuts import assign_perm

    assign_perm("runs.view_shared_run", sam, run)
    assert sam_client.get(url("results", run)).status_code == 404


def test_a_share_row_without_the_permission_admits_nobody(sam_client, run, sam):
    from guardian.shortcuts import remove_perm

    _share(run)
    remove_perm("runs.view_shared_run", sam, run)
    assert sam_client.get(url("results", run)).status_code == 404


def test_a_viewer_cannot_revoke_a_share(vera_client, run, sam):
    share = _share(run)
    revoke = reverse(
        "runs:share_revoke",
        kwargs={"tenant_slug": run.tenant.slug, "run_id": run.pk, "share_id": share.pk},
    )
    assert vera_client.post(revoke).status_code == 403
    assert run.shares.exists()
