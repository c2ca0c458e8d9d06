"""Errors the engine raises; each carries a message a user can act on."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: ``str(err)`` is meant for the person who supplied the input."""


class DataError(EngineError):
    """A data file is unreadable, malformed or over a limit.

    Parameters
    ----------
    message : str
        What is wrong, in words a user understands.
    line, column : int or str, optional
        Where it is wrong, when the format lets us tell.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | str | None = None):
        self.line = line
        self.column = column
        where = []
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.message = message


class LimitExceeded(DataError):
    """The input is larger than a configured limit (the message names the limit)."""


class ParamError(EngineError):
    """A detector parameter is unknown or out of range."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class UnknownDetector(EngineError, KeyError):
    """No catalogue entry has this key."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want plain text
        return str(self.args[0]) if self.args else "unknown detector"


class DetectorUnavailable(EngineError):
    """The detector exists but its requirements are not installed here."""


class DetectionFailed(EngineError):
    """The algorithm failed or produced unusable (non-finite) scores."""


class ArtifactError(EngineError):
    """A model file is tampered with, of an unknown version, or holds untrusted types."""


class Cancelled(EngineError):
    """The caller asked the engine to stop (checked between chunks)."""
