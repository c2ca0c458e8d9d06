"""The trail is append-only in the ORM and below it, on SQLite and PostgreSQL alike."""

import pytest
from django.db import DatabaseError, connection, transaction

from apps.audit.db import triggers_installed
from apps.audit.models import AppendOnlyError, AuditEvent
from apps.audit.services import audit_record


@pytest.fixture
def event(db):
    return audit_record(action="test.event", details={"n": 1})


def test_saving_an_existing_event_again_is_refused(event):
    event.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_deleting_an_event_is_refused(event):
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_queryset_update_and_delete_are_refused(event):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_update([event], ["action"])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_the_database_has_the_append_only_triggers(db):
    assert triggers_installed(connection)


def test_a_raw_sql_update_is_refused_by_the_database(event):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE audit_auditevent SET action = %s WHERE id = %s", ["rewritten", event.pk]
        )
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_a_raw_sql_delete_is_refused_by_the_database(event):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_raw_sql_delete_is_refused_again_after_a_flush_on_sqlite(event):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL flushes with TRUNCATE, which row triggers do not see")
    # Django's whole-database flush is the one DELETE the SQLite trigger lets through...
    connection.ops.execute_sql_flush(["DELETE FROM audit_auditevent"])
    assert not AuditEvent.objects.exists()
    # ...and only while it runs.
    audit_record(action="test.again")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditevent")


def test_deleting_a_tenant_and_a_user_leaves_their_events_untouched(alice, tenant_a):
    from apps.tenants.services import tenant_delete

    tenant_id, alice_id = tenant_a.pk, alice.pk
    tenant_delete(tenant=tenant_a, actor=alice, confirm_name="Acme")
    alice.delete()
    actions = set(
        AuditEvent.objects.filter(tenant_id=tenant_id, actor_id=alice_id).values_list(
            "action", flat=True
        )
    )
    assert actions == {"tenant.created", "tenant.deleted"}


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_can_still_be_flushed_after_writing_events():
    # pytest-django wipes the database after this test (TRUNCATE / DELETE FROM): it must not fail.
    audit_record(action="test.flushed")
    assert AuditEvent.objects.filter(action="test.flushed").count() == 1
