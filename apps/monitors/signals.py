"""What the monitors app tells others (the alerts app listens)."""

from django.dispatch import Signal

# Sent once per execution when it reaches a terminal state (succeeded or failed), after the
# transaction that recorded it committed: ``sender=MonitorExecution, execution=<row>``.
execution_finished = Signal()
