"""Tokens of portal links: `selector + verifier`, both random.

The selector (72 bits) finds the row by an indexed `=`; the verifier (192
bits) is kept only as its sha256 and compared with `hmac.compare_digest`,
so a leaked table holds no usable link and a lookup's timing says nothing
about how much of a verifier was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

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
