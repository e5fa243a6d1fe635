"""Address checks shared by models and services."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

# RFC 5322 quoted local part: "first last"@example.com is a valid address
# that real mail servers deliver; Django's validator refuses the space.
_QUOTED_LOCAL = re.compile(r'^"(?:[^"\\\r\n\x00]|\\[^\r\n\x00]){1,62}"$')


def validate_mail_address(value: str) -> None:
    """Django's email check, also accepting a quoted local part."""
    local, at, domain = (value or "").rpartition("@")
    if at and _QUOTED_LOCAL.match(local):
        try:
            validate_email(f"x@{domain}")  # the domain, by Django's rules
        except ValidationError:
            raise ValidationError(f"{value!r} is not an email address.") from None
        return
    validate_email(value)
