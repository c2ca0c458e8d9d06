"""Re-encrypt every webhook signing secret with the first key of PYNOMALY_SECRETS_KEYS."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.alerts.models import Channel
from apps.common.secrets import SecretUnreadable, reencrypt


class Command(BaseCommand):
    help = (
        "After putting a new key first in PYNOMALY_SECRETS_KEYS (and running reencrypt_secrets "
        "for the sources), re-encrypt every webhook secret with it; then drop the old key."
    )

    def handle(self, *args, **options) -> None:
        count = 0
        try:
            with transaction.atomic():  # all or nothing: no secret left under the old key alone
                for channel in Channel.objects.select_for_update().exclude(secret_encrypted=""):
                    channel.secret_encrypted = reencrypt(channel.secret_encrypted)
                    channel.save(update_fields=["secret_encrypted", "updated_at"])
                    count += 1
        except SecretUnreadable as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(f"{count} webhook secret(s) re-encrypted."))
