"""What a broker adapter raises, so the processor and the forms can tell the two cases apart.

A :class:`SourceConfigError` is the user's to fix (a missing topic name, an unknown security
protocol): its message is written for the stream's form and API answer, and retrying does not
help. A :class:`SourceUnavailable` is the broker's (down, unreachable, refusing us): the
processor records it in the stream's state and reopens the consumer with a backoff; nothing
polled and not committed is lost, the broker hands it out again.

Neither message ever carries the stream's secret.
"""

from __future__ import annotations


class SourceConfigError(ValueError):
    """A stream's source settings that cannot work as written."""


class SourceUnavailable(RuntimeError):
    """The broker cannot be reached or refused an operation; try again later."""


def require_str(config: dict, key: str, label: str) -> str:
    """``config[key]`` as a non-empty stripped string, or a :class:`SourceConfigError`."""
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SourceConfigError(f"{label} is required.")
    return value.strip()


def optional_str(config: dict, key: str, label: str) -> str:
    value = config.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SourceConfigError(f"{label} must be text.")
    return value.strip()
