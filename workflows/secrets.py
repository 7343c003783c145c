"""Encryption of stored credentials: Fernet (AES-128-CBC + HMAC-SHA256, from the
`cryptography` package), keys from the environment, several at once for rotation.

THAIYYAL_CREDENTIAL_KEYS is a comma-separated list of Fernet keys (each made by
`thaiyyal manage credential_key`). The first encrypts; every one of them decrypts
(MultiFernet), so rotating is: put a new key first, run `thaiyyal manage
rotate_credentials` (re-encrypts every credential with it), then drop the old key.
Without the variable, one key is derived from SECRET_KEY: fine for local use, but then
changing SECRET_KEY makes stored credentials unreadable (docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

__all__ = ["InvalidToken", "decrypt", "encrypt", "new_key", "rotate"]


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.THAIYYAL_CREDENTIAL_KEYS)
    if not keys:
        digest = hashlib.sha256(b"thaiyyal credentials\0" + settings.SECRET_KEY.encode())
        keys = [base64.urlsafe_b64encode(digest.digest()).decode("ascii")]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "THAIYYAL_CREDENTIAL_KEYS: each key must be 32 url-safe base64-encoded bytes "
            "(make one with `thaiyyal manage credential_key`)") from None


def encrypt(plain: bytes) -> str:
    return _fernet().encrypt(plain).decode("ascii")


def decrypt(token: str) -> bytes:
    """The plaintext; InvalidToken when no configured key opens it."""
    return _fernet().decrypt(token.encode("ascii"))


def rotate(token: str) -> str:
    """The same plaintext encrypted with the first key."""
    return _fernet().rotate(token.encode("ascii")).decode("ascii")


@receiver(setting_changed)
def _forget_keys(setting: str, **kwargs: object) -> None:
    if setting in {"THAIYYAL_CREDENTIAL_KEYS", "SECRET_KEY"}:
        _fernet.cache_clear()
