"""JSON bodies with their size and nesting checked before they are parsed."""

import json
import re
from itertools import accumulate

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .exceptions import PayloadTooLarge

# No request of this API nests deeper than 2 ({"tags": [...]}); Python's
# parser recurses once per level and fails with RecursionError near 1,000.
MAX_DEPTH = 20
# Longer than any id or count; int() of a long digit string costs quadratic time.
MAX_NUMBER_DIGITS = 40
# A JSON string (escapes included; an unterminated one runs to the end, so
# no match ever fails and backtracks), a run of anything but brackets and
# quotes: everything that is not a bracket outside strings.
_NOT_A_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[^\[\]{}"]+', re.DOTALL)


def nesting_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in a JSON text, brackets inside
    strings ignored; linear in the size, with no recursion."""
    brackets = _NOT_A_BRACKET.sub(b"", raw)
    return max(accumulate(1 if byte in b"[{" else -1 for byte in brackets), default=0)


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ParseError(f"Numbers in the body have at most {MAX_NUMBER_DIGITS} digits.")
    return int(digits)


def _no_constant(name: str):
    raise ParseError(f"{name} is not a JSON value.")


class BoundedJSONParser(JSONParser):
    """JSONParser that refuses a body over API_MAX_BODY_BYTES (413), nested
    deeper than MAX_DEPTH or holding an overlong number (400), before json
    spends any time on it."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError(f"The body is not valid {encoding} text.") from None
        if nesting_depth(raw) > MAX_DEPTH:
            raise ParseError(f"The body nests deeper than {MAX_DEPTH} levels.")
        try:
            return json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
        except ValueError as error:
            raise ParseError(f"The body is not valid JSON: {error}.") from None
