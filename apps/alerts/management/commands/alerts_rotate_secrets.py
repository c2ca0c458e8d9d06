"""Re-encrypt every webhook secret with the first key of ALERTS_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.alerts.crypto import rotate
from apps.alerts.models import Channel


class Command(BaseCommand):
    help = "Re-encrypt webhook secrets with the newest key (ALERTS_ENCRYPTION_KEYS, first one)."

    def handle(self, *args, **options) -> None:
        count = 0
        with transaction.atomic():
            for channel in Channel.objects.select_for_update().exclude(secret_encrypted=""):
                channel.secret_encrypted = rotate(channel.secret_encrypted)
                channel.save(update_fields=["secret_encrypted", "updated_at"])
                count += 1
        self.stdout.write(f"{count} webhook secret(s) re-encrypted with the newest key")
