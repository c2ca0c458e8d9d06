"""Every audit event joins its tenant's hash chain (see apps/audit/chain.py).

Existing events are chained in id order, per tenant (the order they were written in). The
backfill has to write to rows the append-only triggers protect, so it lifts them for its own
transaction and the last step puts them back; on SQLite the field changes rebuild the table,
which drops the triggers anyway.
"""

import django.utils.timezone
from django.db import migrations, models


def backfill(apps, schema_editor):
    from apps.audit.chain import canonical_details, hash_of
    from apps.audit.db import remove_triggers

    AuditEvent = apps.get_model("audit", "AuditEvent")
    remove_triggers(schema_editor.connection)
    heads: dict = {}  # tenant id -> (seq, hash) of the last event chained so far
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        seq, prev = heads.get(event.tenant_id, (0, ""))
        event.seq, event.prev_hash = seq + 1, prev
        event.details = canonical_details(event.details)
        event.hash = hash_of(event)
        event.save(update_fields=["seq", "prev_hash", "hash", "details"])
        heads[event.tenant_id] = (event.seq, event.hash)


def install(apps, schema_editor):
    from apps.audit.db import install_triggers

    install_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.PositiveBigIntegerField(default=0, editable=False),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                fields=("tenant", "seq"), name="audit_chain_seq_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("tenant__isnull", True)),
                fields=("seq",),
                name="audit_global_seq_unique",
            ),
        ),
        migrations.RunPython(install, migrations.RunPython.noop),
    ]
