"""Webhook secrets encrypted at rest (Fernet) with keys from the environment.

``ALERTS_ENCRYPTION_KEYS``: comma-separated Fernet keys, the first encrypts, all decrypt, so a
key is rotated by putting the new one first, running ``manage.py alerts_rotate_secrets``
(re-encrypts every secret with the first key), then removing the old one. In development an
unset variable falls back to a key derived from SECRET_KEY; production refuses to start.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """The stored secret was encrypted with a key that is no longer configured."""


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.ALERTS_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        if settings.PRODUCTION:
            raise ImproperlyConfigured("ALERTS_ENCRYPTION_KEYS must be set in production.")
        digest = hashlib.sha256(f"pynomaly-alerts:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"ALERTS_ENCRYPTION_KEYS holds an invalid key: {exc}") from None


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The webhook secret cannot be decrypted with the configured keys; rotate the "
            "channel's secret."
        ) from None


def rotate(token: str) -> str:
    """The same secret encrypted with the first (newest) key."""
    return _fernet().rotate(token.encode()).decode()
