from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _reinstall_triggers(sender, using="default", **kwargs) -> None:
    """A later migration that rebuilds the table on SQLite would drop the triggers: put them back."""
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    from .db import install_triggers

    connection = connections[using]
    if (
        MigrationRecorder(connection)
        .migration_qs.filter(app="audit", name="0002_append_only")
        .exists()
    ):
        install_triggers(connection)


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self) -> None:
        from . import db, receivers  # noqa: F401  (sign-in/out receivers; SQLite flush flag)

        post_migrate.connect(
            _reinstall_triggers, sender=self, dispatch_uid="audit-reinstall-triggers"
        )
