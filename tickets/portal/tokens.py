"""Tokens of portal links: `selector + verifier`.

The selector (72 random bits) finds the row by an indexed `=`; the
verifier (192 bits) is kept only as its sha256 and compared with
`hmac.compare_digest`, so a leaked table holds no usable link and a
lookup's timing says nothing about how much of a verifier was right.

A ticket link's verifier is derived, not drawn: an HMAC of the secret key
over the link's selector, ticket, address and a random nonce kept on the
row, so each mail to the recipient can carry the same link again. A
sign-in link's verifier is random: it is mailed once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings
from django.utils.crypto import salted_hmac

SELECTOR_CHARS = 12  # token_urlsafe(9)
VERIFIER_CHARS = 32  # token_urlsafe(24)
TOKEN_CHARS = SELECTOR_CHARS + VERIFIER_CHARS
# Compared against when no row was found, so a miss costs what a hit does.
_NO_MATCH = hashlib.sha256(b"no such link").hexdigest()


def token_new() -> tuple[str, str, str]:
    """A new token: (token to mail, selector to store, verifier digest to store)."""
    selector = secrets.token_urlsafe(9)
    verifier = secrets.token_urlsafe(24)
    return selector + verifier, selector, _digest(verifier)


def selector_new() -> str:
    return secrets.token_urlsafe(9)


def nonce_new() -> str:
    return secrets.token_urlsafe(12)


# A key of its own, derived from SECRET_KEY (Django's salted HMAC), as the
# Message-IDs of tickets.mail have theirs.
_LINK_SALT = "helpdesk.portal.ticket-link"


def _derived_verifier(
    *, tenant_id: int, selector: str, ticket_id: int, email: str, nonce: str, secret: str
) -> str:
    text = f"{tenant_id}.{selector}.{ticket_id}.{email}.{nonce}"
    mac = salted_hmac(_LINK_SALT, text, secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()  # 32 characters, as token_urlsafe(24)


def link_token_derive(
    *, tenant_id: int, selector: str, ticket_id: int, email: str, nonce: str
) -> tuple[str, str]:
    """A ticket link made with the current key: (token to mail, verifier digest to store)."""
    verifier = _derived_verifier(
        tenant_id=tenant_id, selector=selector, ticket_id=ticket_id, email=email, nonce=nonce,
        secret=settings.SECRET_KEY,
    )  # fmt: skip
    return selector + verifier, _digest(verifier)


def link_token_rebuild(
    *, tenant_id: int, selector: str, ticket_id: int, email: str, nonce: str, digest: str
) -> str | None:
    """The token of a stored ticket link, made again with the current key or
    one of SECRET_KEY_FALLBACKS (a link mailed before a key rotation stays
    the same link); None when no key kept makes it."""
    for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        verifier = _derived_verifier(
            tenant_id=tenant_id, selector=selector, ticket_id=ticket_id, email=email,
            nonce=nonce, secret=secret,
        )  # fmt: skip
        if hmac.compare_digest(_digest(verifier), digest):
            return selector + verifier
    return None


def token_split(token: str) -> tuple[str, str] | None:
    """(selector, verifier) of a well-formed token, else None."""
    if len(token) != TOKEN_CHARS or not token.isascii():
        return None
    return token[:SELECTOR_CHARS], token[SELECTOR_CHARS:]


def token_matches(verifier: str, stored_digest: str | None) -> bool:
    """Does `verifier` hash to `stored_digest`? Constant time; None compares
    against a dummy so that a missing row takes as long as a wrong token."""
    return hmac.compare_digest(_digest(verifier), stored_digest or _NO_MATCH) and bool(
        stored_digest
    )


def _digest(verifier: str) -> str:
    return hashlib.sha256(verifier.encode()).hexdigest()
