"""Secrets we must be able to read back (an IMAP password), encrypted at rest
with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`).

Keys come from FIELD_ENCRYPTION_KEYS (comma-separated Fernet keys, newest
first: older ones still decrypt, so keys can be rotated). Without it, one key
is derived from SECRET_KEY, so changing SECRET_KEY makes stored secrets
unreadable: set FIELD_ENCRYPTION_KEYS in production.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """Stored with a key we no longer have."""


def _box() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        digest = hashlib.sha256(b"helpdesk field encryption\x00" + settings.SECRET_KEY.encode())
        keys = [base64.urlsafe_b64encode(digest.digest()).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(text: str) -> str:
    return _box().encrypt(text.encode()).decode() if text else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with the configured keys "
            "(FIELD_ENCRYPTION_KEYS or SECRET_KEY changed); enter it again."
        ) from None
