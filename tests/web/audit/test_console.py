"""The audit console: tenant admins see their workspace's trail, staff see every one; CSV is safe."""

import csv
import io

import pytest
from django.urls import reverse

from apps.audit.services import audit_record
from apps.tenants.views_audit import PAGE_SIZE, csv_safe


def _console(tenant):
    return reverse("audit:tenant", kwargs={"tenant_slug": tenant.slug})


def test_the_owner_sees_the_workspaces_events_only(alice_client, tenant_a, tenant_b):
    html = alice_client.get(_console(tenant_a)).content.decode()
    assert f"tenants.tenant:{tenant_a.pk}<" in html
    assert f"tenants.tenant:{tenant_b.pk}<" not in html  # tenant_b's creation is not ours


def test_a_stranger_gets_404_and_viewers_and_analysts_403(
    charlie_client, vera_client, bob_client, tenant_a
):
    assert charlie_client.get(_console(tenant_a)).status_code == 404
    assert vera_client.get(_console(tenant_a)).status_code == 403
    assert bob_client.get(_console(tenant_a)).status_code == 403
    assert bob_client.get(_console(tenant_a) + "?format=csv").status_code == 403


def test_the_console_filters_by_actor_action_target_and_time(alice_client, alice, tenant_a, bob):
    html = alice_client.get(_console(tenant_a), {"action": "membership"}).content.decode()
    assert "membership.added" in html and "tenant.created" not in html
    html = alice_client.get(_console(tenant_a), {"actor": "nobody-like-this"}).content.decode()
    assert "No events match" in html
    html = alice_client.get(
        _console(tenant_a), {"target": f"tenants.tenant:{tenant_a.pk}"}
    ).content.decode()
    assert "tenant.created" in html and "membership.added" not in html
    html = alice_client.get(
        _console(tenant_a), {"start": "2000-01-01", "end": "2000-01-02"}
    ).content.decode()
    assert "No events match" in html


def test_an_htmx_request_gets_only_the_table_and_its_links_keep_hrefs(
    alice_client, alice, tenant_a
):
    for _ in range(PAGE_SIZE + 1):
        audit_record(action="test.bulk", tenant=tenant_a, actor=alice)
    response = alice_client.get(_console(tenant_a), {"action": "test"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="audit-table"')
    assert "<html" not in html
    assert 'href="?action=test&amp;page=2"' in html


def test_staff_see_every_workspace_and_others_are_refused(
    alice_client, alice, charlie, tenant_a, tenant_b
):
    assert alice_client.get(reverse("audit:staff")).status_code == 403
    alice.is_staff = True
    alice.save()
    html = alice_client.get(reverse("audit:staff")).content.decode()
    assert f"tenants.tenant:{tenant_a.pk}<" in html and f"tenants.tenant:{tenant_b.pk}<" in html


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_evaluate_get_a_leading_quote(raw, safe):
    assert csv_safe(raw) == safe


def test_the_csv_export_streams_the_filtered_events_with_formulas_defused(
    alice_client, alice, tenant_a
):
    audit_record(
        action="test.csv",
        tenant=tenant_a,
        actor=alice,
        actor_repr="=cmd|' /C calc'!A0",
        details={"name": "@evil"},
    )
    response = alice_client.get(_console(tenant_a), {"action": "test.csv", "format": "csv"})
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "time (UTC)"
    assert len(rows) == 2
    assert rows[1][1] == "'=cmd|' /C calc'!A0"
    assert rows[1][3] == "test.csv"
