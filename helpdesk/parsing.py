"""Numbers that come from a request, parsed one strict way everywhere."""

import re

# ASCII digits only: str.isdigit() is also true for "²" and "٣", which int()
# then refuses or reads as another number. 18 digits stay below 2**63 (the
# largest bigint) and far below Python's 4,300-digit limit on int().
ID_DIGITS = 18
ID_MAX = 10**ID_DIGITS - 1
_ID = re.compile(rf"[0-9]{{1,{ID_DIGITS}}}")


def parse_id(value: object) -> int | None:
    """An id or number from a request (query string, form, path or JSON), or None
    when it is anything but up to 18 ASCII digits (or a JSON integer in that range)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= ID_MAX else None
    if isinstance(value, str) and _ID.fullmatch(value):
        return int(value)
    return None
