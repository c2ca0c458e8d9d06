"""Re-encrypt every stored source, stream and workspace-MLflow credential with the first key of
PYNOMALY_SECRETS_KEYS.

It lives in the streams app, which sits above sources, so it may call both re-encryptions
(and the MLflow settings', whose app is outside the layers).
"""

from django.core.management.base import BaseCommand, CommandError

from apps.common.secrets import SecretUnreadable
from apps.mlflow_sync.services import mlflow_reencrypt
from apps.sources.services import sources_reencrypt
from apps.streams.services import streams_reencrypt


class Command(BaseCommand):
    help = (
        "After putting a new key first in PYNOMALY_SECRETS_KEYS (keeping the old one after it), "
        "re-encrypt every stored credential with the new key; then the old key can be removed."
    )

    def handle(self, *args, **options):
        try:
            count = sources_reencrypt() + streams_reencrypt() + mlflow_reencrypt()
        except SecretUnreadable as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            self.style.SUCCESS(f"{count} credential(s) re-encrypted with the first key.")
        )
