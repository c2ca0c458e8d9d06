"""What the runs app tells others: a run reached a terminal state (monitors finish executions)."""

from django.dispatch import Signal

# Sent once a run's terminal state (succeeded, failed, cancelled) has committed:
# ``sender=Run, run_id=<pk>``. Receivers re-read the row; they must not fail the sender.
run_finished = Signal()
