"""Inviting a colleague in a real Chromium: the owner invites, the mailed link is opened, the viewer joins
and may read runs but not start one."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD, login


@pytest.fixture
def mailbox(tmp_path, monkeypatch):
    """Where the server writes the mail it sends (Django's filebased backend)."""
    path = tmp_path / "mail"
    path.mkdir()
    monkeypatch.setenv("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    monkeypatch.setenv("EMAIL_FILE_PATH", str(path))
    return path


@pytest.fixture
def server(transactional_db, mailbox, request):
    # The mail settings must be in the environment before Daphne starts; transactional_db is named
    # here so the personas are committed where Daphne can see them.
    return request.getfixturevalue("asgi_server")


def _invitation_link(mailbox, server) -> str:
    mails = [p.read_text() for p in mailbox.iterdir()]
    assert len(mails) == 1, mails
    assert "To: val@example.com" in mails[0]
    match = re.search(rf"{re.escape(server.url)}/invitations/[\w-]+/", mails[0])
    assert match, mails[0]
    return match.group(0)


def test_an_invited_viewer_joins_through_the_mailed_link_and_cannot_start_runs(
    server, mailbox, tenant_a, browser
):
    alice_context = browser.new_context()
    alice = alice_context.new_page()
    login(alice, server, "alice@example.com")
    alice.goto(f"{server.url}/t/{tenant_a.slug}/settings/")
    alice.fill("#invite-form input[name=email]", "val@example.com")
    alice.select_option("#invite-form select[name=role]", "viewer")
    alice.locator("#invite-form").get_by_role("button", name="Send invitation").click()
    alice.wait_for_load_state()
    assert "Invitation sent to val@example.com" in alice.content()
    alice_context.close()

    link = _invitation_link(mailbox, server)
    context = browser.new_context()
    val = context.new_page()
    val.goto(link)
    assert "Acme" in val.content()
    val.locator("#invitation").get_by_role("link", name="Sign up").click()
    val.fill("input[name=email]", "val@example.com")
    val.fill("input[name=password1]", PASSWORD)
    val.fill("input[name=password2]", PASSWORD)
    val.locator("#entrance").get_by_role("button", name="Sign Up").click()
    val.wait_for_url(re.compile(r"/invitations/"))  # back at the invitation, now signed in
    val.get_by_role("button", name="Accept and join").click()
    val.wait_for_url(f"{server.url}/t/{tenant_a.slug}/")
    assert "Welcome to Acme" in val.content()

    response = val.goto(f"{server.url}/t/{tenant_a.slug}/runs/")
    assert response.status == 200
    assert val.locator("h1").inner_text() == "Runs"
    assert val.get_by_role("link", name="Start a run").count() == 0

    response = val.goto(f"{server.url}/t/{tenant_a.slug}/runs/new/")
    assert response.status == 403
    # Posting the start form directly, with a valid CSRF token, is refused too.
    status = val.evaluate("""async () => {
        const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
        const r = await fetch(location.href, {method: 'POST', headers: {'X-CSRFToken': token},
                                              body: new URLSearchParams({dataset_version: '1', detector: '1'})});
        return r.status;
    }""")
    assert status == 403
    from apps.runs.models import Run
    from apps.tenants.models import Membership

    assert Membership.objects.get(tenant=tenant_a, user__email="val@example.com").role == "viewer"
    assert not Run.objects.exists()
    context.close()
