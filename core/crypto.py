"""Secrets the platform must use again but never show (a project's bot token): encrypted at rest
with Fernet (AES-128-CBC with an HMAC), keyed by `FIELD_ENCRYPTION_KEY` or, unset, by a key
derived from SECRET_KEY, so that a copy of the database alone reveals nothing."""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "decrypt", "encrypt"]


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    # The first key encrypts; every key decrypts, so that a key can be rotated.
    return MultiFernet([Fernet(key) for key in keys])


def _keys() -> tuple[str, ...]:
    configured = tuple(k for k in getattr(settings, "FIELD_ENCRYPTION_KEYS", ()) if k)
    if configured:
        return configured
    derived = hashlib.sha256(b"field-encryption:" + settings.SECRET_KEY.encode()).digest()
    return (base64.urlsafe_b64encode(derived).decode(),)


def encrypt(plain: str) -> str:
    return _fernet(_keys()).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """The plain text; InvalidToken when the key changed or the text was tampered with."""
    return _fernet(_keys()).decrypt(token.encode()).decode()
