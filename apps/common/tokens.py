"""Bearer secrets (API tokens, invitation links) are stored as their SHA-256, never as sent."""

from __future__ import annotations

import hashlib


def token_hash(raw: str) -> str:
    """Hex SHA-256 of ``raw``: the secrets are 30+ random bytes, so a fast hash is enough."""
    return hashlib.sha256(raw.encode()).hexdigest()
