"""The audit trail is tamper-evident: a per-tenant hash chain that `audit_verify` and the
consoles check, which still catches changes made with the append-only triggers switched off."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import close_old_connections, connection, connections
from django.urls import reverse

from apps.audit import chain
from apps.audit.db import TABLE, remove_triggers
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record


@contextmanager
def triggers_off():
    """What a table owner can do: switch the append-only triggers off (the test's transaction
    puts them back when it rolls back)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
        else:
            remove_triggers(connection)
        yield cursor


def _events(tenant, n: int, **extra) -> list[AuditEvent]:
    return [
        audit_record(action="test.step", tenant=tenant, details={"n": i, **extra}) for i in range(n)
    ]


def test_each_tenant_has_its_own_chain_and_global_events_another(db, tenant_a, tenant_b):
    a = _events(tenant_a, 3)
    b = _events(tenant_b, 2)
    g = _events(None, 2)
    first_a = AuditEvent.objects.for_tenant(tenant_a).order_by("seq").first()  # tenant.created
    assert first_a.seq == 1 and first_a.prev_hash == ""
    assert [e.prev_hash for e in a[1:]] == [e.hash for e in a[:-1]]
    assert b[1].prev_hash == b[0].hash and b[1].seq == b[0].seq + 1
    assert g[1].seq == g[0].seq + 1 and g[1].prev_hash == g[0].hash
    assert all(len(e.hash) == 64 for e in a + b + g)
    result = chain.verify(AuditEvent.objects.all())
    assert result.intact and result.events == AuditEvent.objects.count()
    assert result.chains == 3


def test_the_stored_hash_is_what_verification_recomputes_from_the_database(db, tenant_a):
    # Types that the database hands back differently from what was written: keys reordered
    # (jsonb), tuples as lists, unicode, floats, an IPv6 address.
    audit_record(
        action="test.types",
        tenant=tenant_a,
        details={"z": (1, 2), "a": "é ✓", "f": 0.1 + 0.2, "nested": {"b": None, "a": True}},
    )
    event = AuditEvent.objects.for_tenant(tenant_a).order_by("-seq").first()
    assert chain.hash_of(event) == event.hash


def test_an_event_edited_with_the_triggers_off_is_named(db, tenant_a):
    events = _events(tenant_a, 5)
    victim = events[2]
    with triggers_off() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET actor_repr = %s WHERE id = %s", ["someone-else", victim.pk]
        )
    result = chain.verify(AuditEvent.objects.for_tenant(tenant_a))
    assert not result.intact
    [broken] = result.breaks
    assert broken.event_id == victim.pk and broken.seq == victim.seq
    assert "content no longer matches its hash" in broken.problem
    assert f"event {victim.pk} " in str(broken)


def test_an_edit_that_also_rewrites_the_hash_breaks_the_next_link(db, tenant_a):
    events = _events(tenant_a, 4)
    victim, successor = events[1], events[2]
    forged = AuditEvent.objects.get(pk=victim.pk)
    forged.details = {"n": 999}
    forged_hash = chain.hash_of(forged)
    with triggers_off() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET details = %s, hash = %s WHERE id = %s",
            ['{"n": 999}', forged_hash, victim.pk],
        )
    [broken] = chain.verify(AuditEvent.objects.for_tenant(tenant_a)).breaks
    assert broken.event_id == successor.pk
    assert "link to the previous event" in broken.problem


def test_an_event_deleted_from_the_middle_is_detected(db, tenant_a):
    events = _events(tenant_a, 5)
    with triggers_off() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [events[2].pk])
    [broken] = chain.verify(AuditEvent.objects.for_tenant(tenant_a)).breaks
    assert broken.event_id == events[3].pk
    assert "1 event(s) missing before it" in broken.problem


def test_a_tampered_tenant_leaves_the_other_chains_intact(db, tenant_a, tenant_b):
    a = _events(tenant_a, 3)
    _events(tenant_b, 3)
    with triggers_off() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET action = 'x' WHERE id = %s", [a[1].pk])
    result = chain.verify(AuditEvent.objects.all())
    assert [b.event_id for b in result.breaks] == [a[1].pk]
    assert result.breaks[0].tenant_id == tenant_a.pk


# ---------------------------------------------------------------- the command
def test_audit_verify_says_the_trail_is_intact(db, tenant_a):
    _events(tenant_a, 3)
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert "Trail verified:" in out.getvalue() and "every chain intact" in out.getvalue()
    out = StringIO()
    call_command("audit_verify", "--tenant", tenant_a.slug, stdout=out)
    count = AuditEvent.objects.for_tenant(tenant_a).count()
    assert f"Trail verified: {count} events in 1 chain(s)" in out.getvalue()


def test_audit_verify_names_the_first_broken_link_and_fails(db, tenant_a, tenant_b):
    events = _events(tenant_a, 4)
    with triggers_off() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET target_id = 'forged' WHERE id = %s", [events[1].pk])
        cursor.execute(f"UPDATE {TABLE} SET target_id = 'forged' WHERE id = %s", [events[3].pk])
    err = StringIO()
    with pytest.raises(CommandError, match="tampered"):
        call_command("audit_verify", stdout=StringIO(), stderr=err)
    assert f"broken at event {events[1].pk} (#{events[1].seq}" in err.getvalue()
    assert f"event {events[3].pk} " not in err.getvalue()  # the first break only
    # The other tenant's chain still verifies on its own.
    call_command("audit_verify", "--tenant", tenant_b.slug, stdout=StringIO())


def test_audit_verify_exits_non_zero_on_a_break(db, tenant_a, capsys):
    events = _events(tenant_a, 2)
    with triggers_off() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [events[0].pk])
    with pytest.raises(SystemExit) as exit_info:  # as from the shell: manage.py audit_verify
        execute_from_command_line(["manage.py", "audit_verify", "--tenant", tenant_a.slug])
    assert exit_info.value.code == 1
    assert "1 event(s) missing" in capsys.readouterr().err


def test_audit_verify_refuses_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("audit_verify", "--tenant", "nope")


# ---------------------------------------------------------------- the consoles
def test_the_tenant_console_says_the_trail_verifies(alice_client, tenant_a):
    _events(tenant_a, 2)
    html = alice_client.get(reverse("audit:tenant", kwargs={"tenant_slug": tenant_a.slug}))
    count = AuditEvent.objects.for_tenant(tenant_a).count()
    assert f"Trail verified: {count} events, chain intact." in html.content.decode()


def test_the_consoles_name_the_first_broken_link(alice_client, alice, tenant_a):
    events = _events(tenant_a, 3)
    with triggers_off() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET ip = '10.6.6.6' WHERE id = %s", [events[1].pk])
    html = alice_client.get(
        reverse("audit:tenant", kwargs={"tenant_slug": tenant_a.slug})
    ).content.decode()
    assert "Trail verified" not in html
    assert "has been tampered with" in html
    assert f"event {events[1].pk} (#{events[1].seq}," in html
    alice.is_staff = True
    alice.save()
    html = alice_client.get(reverse("audit:staff")).content.decode()
    assert f"workspace {tenant_a.pk} chain: event {events[1].pk} (#{events[1].seq}," in html


# ---------------------------------------------------------------- concurrency
def test_concurrent_writers_never_fork_a_chain(transactional_db, tenant_a, tenant_b):
    """Two tenants, 50 events each, written from 10 threads at once, each in its own
    transaction that holds the chain lock while it does more work: both chains verify."""
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def writer(k: int) -> None:
        from django.db import transaction

        try:
            start.wait(timeout=60)
            for i in range(10):
                tenant = tenant_a if (k + i) % 2 else tenant_b
                with transaction.atomic():
                    audit_record(action="test.concurrent", tenant=tenant, details={"k": k, "i": i})
                    tenant.refresh_from_db()  # more work inside the same transaction
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)
        finally:
            close_old_connections()
            connections.close_all()

    before = {t.pk: AuditEvent.objects.for_tenant(t).count() for t in (tenant_a, tenant_b)}
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    for t in (tenant_a, tenant_b):
        events = AuditEvent.objects.for_tenant(t)
        assert events.count() == before[t.pk] + 50
        assert sorted(events.values_list("seq", flat=True)) == list(range(1, events.count() + 1))
    result = chain.verify(AuditEvent.objects.all())
    assert result.intact, [str(b) for b in result.breaks]
