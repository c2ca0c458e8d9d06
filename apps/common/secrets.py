"""Secrets at rest (source passwords, webhook secrets): Fernet with keys from the environment.

``PYNOMALY_SECRETS_KEYS`` lists Fernet keys, comma-separated. The first encrypts; every key
decrypts (:class:`cryptography.fernet.MultiFernet`), so a key is rotated by putting a new one
first, running ``manage.py reencrypt_secrets`` (which re-encrypts every stored secret with the
first key), then dropping the old one. Development and the tests derive a key from
``SECRET_KEY`` when none is set; production refuses to start without one (settings).

Plain text never leaves this module except to the code that connects with it: no log line,
no audit payload, no form or API answer carries it.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError


class SecretUnreadable(ValidationError):
    """A stored secret that none of the configured keys decrypts."""


def _dev_key(secret_key: str) -> bytes:
    return base64.urlsafe_b64encode(
        hashlib.sha256(f"pynomaly-secrets:{secret_key}".encode()).digest()
    )


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    raw = [k.strip() for k in keys if k.strip()]
    if not raw:
        if getattr(settings, "PRODUCTION", False):
            raise ImproperlyConfigured("PYNOMALY_SECRETS_KEYS must be set in production.")
        return MultiFernet([Fernet(_dev_key(secret_key))])
    try:
        return MultiFernet([Fernet(k.encode()) for k in raw])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "PYNOMALY_SECRETS_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.PYNOMALY_SECRETS_KEYS), settings.SECRET_KEY)


def encrypt(plain: str) -> str:
    """The token to store for ``plain`` ("" stays "": no secret set)."""
    if not plain:
        return ""
    return fernet().encrypt(plain.encode()).decode("ascii")


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable(
            "A stored credential cannot be decrypted with the configured PYNOMALY_SECRETS_KEYS "
            "(was the key replaced without keeping the old one after it?). Enter it again.",
            code="secret_unreadable",
        ) from None


def reencrypt(token: str) -> str:
    """``token`` encrypted with the first key (raises :class:`SecretUnreadable` if no key reads it)."""
    if not token:
        return ""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable(
            "A stored credential cannot be decrypted with any configured key.",
            code="secret_unreadable",
        ) from None
