from apps.audit.models import AuditEvent


class AuditCounter:
    """Counts the events of one action written between entering and leaving the block."""

    def __init__(self, action: str):
        self.action = action

    def __enter__(self):
        self.before = set(
            AuditEvent.objects.filter(action=self.action).values_list("pk", flat=True)
        )
        return self

    def __exit__(self, *exc):
        self.events = list(
            AuditEvent.objects.filter(action=self.action).exclude(pk__in=self.before)
        )
        return False

    @property
    def count(self) -> int:
        return len(self.events)

    @property
    def event(self) -> AuditEvent:
        assert self.count == 1, f"expected one {self.action} event, got {self.count}"
        return self.events[0]
