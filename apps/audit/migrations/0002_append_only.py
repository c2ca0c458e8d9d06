"""The audit trail becomes append-only in the database.

1. The foreign keys to tenant and user lose their constraint and do nothing on delete: a
   deleted tenant or user must not need an UPDATE (SET_NULL) of audit rows, which step 2
   forbids. The ids stay in the rows as plain values.
2. Triggers refuse UPDATE and DELETE (see apps/audit/db.py for what each database refuses and
   why SQLite lets Django's whole-database flush through). They come after the field changes
   because SQLite rebuilds the table for those, and a rebuild drops triggers.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def install(apps, schema_editor):
    from apps.audit.db import install_triggers

    install_triggers(schema_editor.connection)


def remove(apps, schema_editor):
    from apps.audit.db import remove_triggers

    remove_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("tenants", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="auditevent",
            options={"base_manager_name": "objects", "ordering": ["-created_at", "-id"]},
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="tenant",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="tenants.tenant",
            ),
        ),
        migrations.RunPython(install, remove),
    ]
