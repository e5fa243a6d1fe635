"""@mentions in internal notes: "@pat.lee" or "@acme-agent" names a member
(helpdesk.notifications.member_handles resolves the handles)."""

import re

# "@name" not inside a word or an address; a trailing dot or dash ends a
# sentence, not a name ("ask @pat.lee.").
MENTION = re.compile(r"(?<![\w@.+-])@([A-Za-z0-9_][\w.+-]*)")


def mentioned_handles(text: str) -> list[str]:
    """The @handles in a text, lower case, each once, in order."""
    handles = (match.group(1).rstrip(".-+").lower() for match in MENTION.finditer(text or ""))
    return list(dict.fromkeys(handle for handle in handles if handle))
