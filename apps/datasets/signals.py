"""What the datasets app tells others: a new version was written (monitors execute on it)."""

from django.dispatch import Signal

# Sent after the transaction that wrote a new DatasetVersion committed:
# ``sender=DatasetVersion, version=<row>``. Receivers must not fail the sender.
version_created = Signal()
