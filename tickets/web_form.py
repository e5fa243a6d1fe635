"""What the web form's acknowledgement may say of what was typed into it.

Anyone can put any address into the public form, so its acknowledgement goes
to whoever the sender chose. It must not carry their words to that stranger:
it says a request arrived, gives its reference and at most a short, plain
version of the subject, with nothing a mail client would turn into a link.
"""

import re
import unicodedata

from django.utils.html import strip_tags

SUBJECT_MAX_CHARS = 60
LINK_REMOVED = "[link removed]"

# Words a mail client may turn into a link: anything with a scheme
# ("https://", "mailto:", "tel:"), "www.", an address, or a dotted name
# ending in letters (evil.example, bit.ly/x). "v2.3" and "Re: x" stay.
_LINK_LIKE = re.compile(
    r"""
    ^[a-z][a-z0-9+.\-]*:\S   # a scheme and something after it
    | www\.                  # www.anything
    | @                      # an address
    | [^\W_]\.[^\W\d_]{2,}   # name.tld, any script
    """,
    re.IGNORECASE | re.VERBOSE,
)


def _visible(char: str) -> str:
    # Control, format (bidi overrides, zero-width), private-use and unassigned
    # characters go; line and paragraph separators become spaces.
    category = unicodedata.category(char)
    if category.startswith("C"):
        return " " if char in "\t\n\r\x0b\x0c\x85" else ""
    if category in ("Zl", "Zp"):
        return " "
    return char


def plain_subject(subject: str, limit: int = SUBJECT_MAX_CHARS) -> str:
    """The subject as the acknowledgement shows it: one line of visible
    characters, no markup, links removed, cut to `limit` characters at a word."""
    text = "".join(_visible(char) for char in unicodedata.normalize("NFKC", subject or ""))
    text = strip_tags(text)
    words: list[str] = []
    for word in text.split():
        # U+3002 separates the labels of a domain name as "." does.
        if _LINK_LIKE.search(word.replace("\u3002", ".")):
            if words and words[-1] == LINK_REMOVED:
                continue  # one marker for a run of links
            word = LINK_REMOVED
        words.append(word)
    text = " ".join(words)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" .,;:-") + "…"
