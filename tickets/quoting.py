"""Find where a reply starts quoting the mail it answers, so the timeline can
fold the quote away (it is kept, only hidden until asked for)."""

import re

# "On Mon, 3 Nov 2026 at 10:00, Pat <pat@example.com> wrote:" and friends.
_ATTRIBUTION = re.compile(r"^(On\s.+wrote:|Am\s.+schrieb.*:|Le\s.+a écrit\s?:)\s*$", re.IGNORECASE)
_SEPARATORS = re.compile(r"^(-{2,}\s*Original Message\s*-{2,}|_{10,})\s*$", re.IGNORECASE)


def split_quoted(text: str) -> tuple[str, str]:
    """(what the sender wrote, the quoted rest); the rest is "" when none.

    The quote starts at an attribution line, an "Original Message"
    separator, or a run of ">" lines that goes on to the end.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if _ATTRIBUTION.match(stripped) or _SEPARATORS.match(stripped):
            return _joined(lines[:index], lines[index:])
        if stripped.startswith(">") and all(
            not rest.strip() or rest.lstrip().startswith(">") for rest in lines[index:]
        ):
            return _joined(lines[:index], lines[index:])
    return text, ""


def _joined(own: list[str], quoted: list[str]) -> tuple[str, str]:
    own_text = "\n".join(own).rstrip()
    if not own_text:  # only a quote: nothing to fold
        return "\n".join(own + quoted), ""
    return own_text, "\n".join(quoted).strip()
