"""Find where a reply starts quoting the mail it answers, so the timeline can
fold the quote away (it is kept, only hidden until asked for).

Text and HTML go through one rule book: the body is read as a list of
lines (HTML lines end at a block element or a <br>), each with its quote
depth (leading ">" in text, enclosing <blockquote>s in HTML), and the
first line or element that starts quoted history wins:

- a client's own marker (HTML): Gmail's `gmail_quote`, Outlook on the
  web's `#appendonsend` / `#divRplyFwdMsg`, Thunderbird's
  `moz-cite-prefix`, Apple Mail's and Thunderbird's `blockquote type=cite`;
- a separator: "-----Original Message-----" and its translations, the
  "Forwarded message" lines, Outlook's "____" rule above a header block;
- Outlook's header block, "From: / Sent: / To: / Subject:" in any of the
  languages below;
- an attribution, "On ... wrote:" and its translations, also when wrapped
  over two lines;
- a run of quoted lines that goes on to the end.

A quote that the sender answered between or below its lines is not folded
(that is their reply), and a mail that is only a quote (a forward with no
text of its own) is shown whole.

quotequail was tried first: it finds the attribution and separator lines
but not Outlook's header block, knows neither Italian nor the clients'
HTML markers, and keeps its patterns in module globals; mail-parser-reply
reads text only. So the patterns live here, written from the shapes those
two libraries' fixtures and the clients themselves produce.
"""

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Class, id and type values that mail clients put on quoted history; the
# sanitiser (services.sanitize_html) keeps these and drops every other one.
QUOTE_MARKER_CLASSES = {
    "div": {"gmail_quote", "gmail_quote_container", "gmail_attr", "moz-cite-prefix"},
    "blockquote": {"gmail_quote"},
}
QUOTE_MARKER_VALUES = {
    "div": {"id": {"divRplyFwdMsg", "appendonsend"}},
    "blockquote": {"type": {"cite"}},
}

# "On <date>, <name> <address> wrote:" as each client writes it in each
# language (Gmail, Apple Mail, Thunderbird, Outlook for Mac and phones).
_ATTRIBUTIONS = re.compile(
    "|".join(
        [
            r"On\s.+\swrote\s?:",  # English
            r"Am\s.+\sschrieb\s.+:",  # German
            r"Le\s.+\sa\s[ée]crit\s?:",  # French ("a écrit :")
            r"El\s.+\sescribi[óo]\s?:",  # Spanish
            r"Op\s.+\s(?:schreef\s.+|het volgende geschreven)\s?:",  # Dutch
            r"Em\s.+\sescreveu\s?:",  # Portuguese (Brazil)
            r".+<[^<>\s]+@[^<>\s]+>\sescreveu\s.+:",  # Portuguese (Portugal)
            r"Il\s.+\sha\sscritto\s?:",  # Italian ("Il giorno ... ha scritto:")
            r"(?:Den\s|\d|\w{2,4}\.?\s\d).+\sskrev\s.+:",  # Swedish, Danish, Norwegian
            r"W\sdniu\s.+\snapisał(?:\(a\)|a)?\s?:",  # Polish
            r"Dne\s.+\snapsal(?:\(a\)|a)?\s?:",  # Czech
            r".+\skirjoitti\s?:",  # Finnish
            r".+\sнаписал(?:\(а\)|а)?\s?:",  # Russian
        ]
    )
)
# What makes an attribution line more than a sentence that ends in "wrote:":
# a real one names an address or a time (or a quote follows it).
_ATTRIBUTION_DETAIL = re.compile(r"@|\d{1,2}[:.]\d{2}")
_MAX_ATTRIBUTION = 400

_SEPARATOR = re.compile(
    r"-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d['’]origine"
    r"|Mensaje original|Oorspronkelijk bericht|Origineel bericht|Messaggio originale"
    r"|Ursprungligt meddelande|Mensagem original|Oprindelig meddelelse|Opprinnelig melding"
    r"|Alkuperäinen viesti|Wiadomość oryginalna|Původní zpráva"
    r"|Forwarded message|Weitergeleitete Nachricht|Message transféré|Mensaje reenviado"
    r"|Doorgestuurd bericht|Mensagem encaminhada|Messaggio inoltrato"
    r"|Vidarebefordrat meddelande|Videresendt meddelelse|Videresendt melding)\s*-{2,}"
    # Apple Mail's forward
    r"|Begin forwarded message:|Anfang der weitergeleiteten (?:Nachricht|E-Mail):"
    r"|Début du message réexpédié\s?:|Inicio del mensaje reenviado:"
    r"|Begin doorgestuurd bericht:|Início da mensagem reencaminhada:"
    r"|Inizio messaggio inoltrato:|Vidarebefordrat brev:",
    re.IGNORECASE,
)
# Outlook's rule above its header block in text ("_" x 32) and some clients' dashes.
_RULE = re.compile(r"[_\-=]{10,}")

# Outlook's header block labels, per language, by what they name.
_HEADER_LABELS = {
    "from": {"from", "von", "de", "van", "da", "från", "fra", "od", "от", "lähettäjä"},
    "date": {
        "sent", "date", "gesendet", "datum", "envoyé", "enviado", "enviada", "enviado el",
        "fecha", "verzonden", "inviato", "data", "skickat", "sendt", "lähetetty", "wysłano",
        "odesláno", "отправлено",
    },
    "to": {"to", "an", "à", "para", "aan", "a", "till", "til", "do", "komu", "кому", "vastaanottaja"},
    "subject": {
        "subject", "betreff", "objet", "asunto", "onderwerp", "oggetto", "ämne", "assunto",
        "emne", "aihe", "temat", "předmět", "тема",
    },
    "cc": {"cc", "kopie", "kopia", "cco", "bcc", "cci"},
}  # fmt: skip
_LABEL_KIND = {label: kind for kind, labels in _HEADER_LABELS.items() for label in labels}
_HEADER_LINE = re.compile(r"\*?([^\W\d_][^\W\d_ ]{0,15}(?: [^\W\d_]{1,5})?) ?\*? ?:(?:\*|\s|$)")
_HEADER_WINDOW = 8

# Markers that start a quote that runs to the end of the mail; the others
# (a cited blockquote, Thunderbird's attribution) are skipped when the
# sender answered inside or below the quote.
_TO_THE_END_MARKERS = {"gmail_quote", "outlook"}
# How near after an attribution or a marked element its quoted lines start.
_QUOTE_WITHIN = 4
_NO_LINE = 1 << 30


@dataclass
class _Entry:
    text: str  # normalised: one space between words; "" for a marker or blank line
    depth: int  # ">" prefixes in text, enclosing blockquotes in HTML
    marker: str = ""  # set for an HTML element a mail client marks as quoted history
    node: LexborNode | None = None  # where the line or element starts (HTML)


# ------------------------------------------------------------------ rules


def _label(text: str) -> str:
    match = _HEADER_LINE.match(text)
    return _LABEL_KIND.get(match.group(1).lower(), "") if match else ""


def _is_header_block(entries: list[_Entry], index: int) -> bool:
    """Outlook's From/Sent/To/Subject block starts at this line."""
    if _label(entries[index].text) != "from":
        return False
    seen = set()
    for entry in entries[index + 1 : index + _HEADER_WINDOW]:
        if entry.marker:
            continue
        if not entry.text:
            break
        seen.add(_label(entry.text))
    return "subject" in seen and bool(seen & {"date", "to"})


def _is_attribution(text: str) -> bool:
    return 0 < len(text) <= _MAX_ATTRIBUTION and bool(_ATTRIBUTIONS.fullmatch(text))


def _attribution_lines(entries: list[_Entry], index: int) -> int:
    """How many lines the attribution starting here takes (0: none). One
    that wraps over two lines is joined first."""
    if _is_attribution(entries[index].text):
        return 1
    following = index + 1
    if following >= len(entries) or _is_attribution(entries[following].text):
        return 0
    return 2 if _is_attribution(f"{entries[index].text} {entries[following].text}") else 0


def _next_line(entries: list[_Entry], index: int) -> int | None:
    """The next entry with text (HTML markers and blank lines skipped)."""
    for later in range(index + 1, len(entries)):
        if entries[later].text:
            return later
    return None


def _quote_follows(entries: list[_Entry], index: int) -> bool:
    """A quoted line or a marked quote comes next."""
    for entry in entries[index + 1 :]:
        if entry.marker:
            return True
        if entry.text:
            return entry.depth > entries[index].depth
    return False


def _answered_inside(entries: list[_Entry], shallowest: list[int], index: int) -> bool:
    """The quote that starts just after this entry is followed by more
    text at this entry's level: an inline or bottom-posted reply, which is
    not history to hide. (`shallowest[i]`: the least depth of any line
    from entry i on; the quote must start within a few entries.)"""
    depth = entries[index].depth
    for later in range(index + 1, min(index + 1 + _QUOTE_WITHIN, len(entries))):
        if entries[later].text and entries[later].depth > depth:
            return shallowest[later + 1] <= depth
    return False


def _with_line_above(entries: list[_Entry], index: int) -> int:
    """A quote run or a cited blockquote takes the attribution line above it
    along, in whatever language: a short line ending in ":" with an
    address or a time, at the same level."""
    above = index - 1
    while above >= 0 and not entries[above].text and not entries[above].marker:
        above -= 1
    if above < 0 or entries[above].marker:
        return index
    line = entries[above]
    if (
        line.depth == entries[index].depth
        and line.text.endswith(":")
        and len(line.text) <= _MAX_ATTRIBUTION
        and _ATTRIBUTION_DETAIL.search(line.text)
    ):
        return above
    return index


def _with_rule_above(entries: list[_Entry], index: int) -> int:
    """Outlook's header block takes the rule line above it along."""
    above = index - 1
    while above >= 0 and not entries[above].text and not entries[above].marker:
        above -= 1
    if above >= 0 and _RULE.fullmatch(entries[above].text):
        return above
    return index


def _quote_start(entries: list[_Entry]) -> int | None:
    """Index of the entry where quoted history starts, or None."""
    # The least depth of any line from each entry on: a ">" run goes on
    # to the end where it is above zero. Worked out once, so that no rule
    # reads the rest of a long mail again for each line.
    shallowest = [_NO_LINE] * (len(entries) + 1)
    for index in range(len(entries) - 1, -1, -1):
        depth = entries[index].depth if entries[index].text else _NO_LINE
        shallowest[index] = min(shallowest[index + 1], depth)

    for index, entry in enumerate(entries):
        if entry.marker:
            if entry.marker in _TO_THE_END_MARKERS:
                return index
            if not _answered_inside(entries, shallowest, index):
                return _with_line_above(entries, index)
            continue
        if not entry.text:
            continue
        if _SEPARATOR.fullmatch(entry.text):
            return index
        if _RULE.fullmatch(entry.text):
            following = _next_line(entries, index)
            if following is not None and _is_header_block(entries, following):
                return index
            continue
        if _is_header_block(entries, index):
            return _with_rule_above(entries, index)
        lines = _attribution_lines(entries, index)
        if lines:
            last = index + lines - 1
            joined = " ".join(e.text for e in entries[index : last + 1])
            detailed = bool(_ATTRIBUTION_DETAIL.search(joined))
            if (detailed or _quote_follows(entries, last)) and not _answered_inside(
                entries, shallowest, last
            ):
                return index
        if entry.depth > 0 and shallowest[index] > 0:
            return _with_line_above(entries, index)
    return None


# ------------------------------------------------------------------- text


def _text_depth(line: str) -> int:
    prefix = re.match(r"[\s>]*", line).group(0)
    return prefix.count(">")


def split_quoted(text: str) -> tuple[str, str]:
    """(what the sender wrote, the quoted rest) of a text body; the rest is
    "" when there is no quote or nothing but a quote."""
    lines = text.splitlines()
    entries = [_Entry(text=" ".join(line.split()), depth=_text_depth(line)) for line in lines]
    start = _quote_start(entries)
    if start is None:
        return text, ""
    own = "\n".join(lines[:start]).rstrip()
    if not own.strip():  # only a quote: nothing to fold
        return text, ""
    return own, "\n".join(lines[start:]).strip()


# ------------------------------------------------------------------- HTML

_BLOCKS = {
    "address", "article", "aside", "blockquote", "center", "dd", "details", "div", "dl",
    "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip


def _marker(node: LexborNode) -> str:
    attrs = node.attributes
    classes = set((attrs.get("class") or "").split())
    if node.tag == "div" and attrs.get("id") in ("divRplyFwdMsg", "appendonsend"):
        return "outlook"
    if classes & {"gmail_quote", "gmail_quote_container"}:
        return "gmail_quote"
    if node.tag == "div" and "moz-cite-prefix" in classes:
        return "cite"
    if node.tag == "blockquote" and attrs.get("type") == "cite":
        return "cite"
    return ""


def _html_entries(body: LexborNode) -> list[_Entry]:
    """The body as lines and marked elements, in document order. Walked
    with a stack, not recursion: mail can nest thousands deep."""
    entries: list[_Entry] = []
    line: _Entry | None = None
    depth = 0
    stack: list[tuple[LexborNode, bool]] = [(child, False) for child in _children(body)[::-1]]
    while stack:
        node, leaving = stack.pop()
        tag = node.tag
        if leaving:
            line = None
            if tag == "blockquote":
                depth -= 1
            continue
        if tag == "-text":
            text = node.text_content or ""
            if line is None and text.strip():
                line = _Entry(text="", depth=depth, node=node)
                entries.append(line)
            if line is not None:
                line.text += text  # normalised below, once the line is whole
            continue
        if tag == "br":
            line = None
            continue
        if tag in _BLOCKS:
            line = None
            marker = _marker(node)
            if marker:
                entries.append(_Entry(text="", depth=depth, marker=marker, node=node))
            if tag == "blockquote":
                depth += 1
            stack.append((node, True))
        elif tag == "img" and line is None:
            # An image starts a line of its own: it is what the sender wrote.
            line = _Entry(text="", depth=depth, node=node)
            entries.append(line)
        stack.extend((child, False) for child in _children(node)[::-1])
    for entry in entries:
        entry.text = " ".join(entry.text.split())
    return entries


def _children(node: LexborNode) -> list[LexborNode]:
    children = []
    child = node.child
    while child is not None:
        children.append(child)
        child = child.next
    return children


def _is_blank(node: LexborNode) -> bool:
    """Nothing a reader would see: white space, <br>, <hr>, empty elements."""
    if node.tag == "-text":
        return not (node.text_content or "").strip()
    if node.tag == "img":
        return False
    return not node.text(deep=True).strip() and node.css_first("img") is None


def _cut_from(node: LexborNode, body: LexborNode) -> LexborNode:
    """The outermost element the quote starts with: a line's first text
    climbs to the block it opens, and blank lines and rules just above go
    along (Outlook's <hr> and empty #appendonsend above its header)."""
    while node.parent is not None and node.parent.mem_id != body.mem_id:
        before = node.prev
        while before is not None and _is_blank(before):
            before = before.prev
        if before is not None:
            break
        node = node.parent
    while node.prev is not None and _is_blank(node.prev):
        node = node.prev
    return node


def _following(first: LexborNode, body: LexborNode) -> list[LexborNode]:
    """`first`, everything after it at its level, and everything after each
    of its enclosing elements, in document order."""
    nodes = []
    node = first
    while node is not None:
        while node is not None:
            nodes.append(node)
            node = node.next
        parent = nodes[-1].parent
        while parent is not None and parent.mem_id != body.mem_id and parent.next is None:
            parent = parent.parent
        if parent is None or parent.mem_id == body.mem_id:
            break
        node = parent.next
    return nodes


def split_quoted_html(html: str) -> tuple[str, str]:
    """(what the sender wrote, the quoted rest) of sanitised HTML; the rest
    is "" when there is no quote or nothing but a quote."""
    tree = LexborHTMLParser(html)
    body = tree.body
    if body is None:
        return html, ""
    entries = _html_entries(body)
    start = _quote_start(entries)
    if start is None:
        return html, ""
    quote = tree.create_node("div")
    for node in _following(_cut_from(entries[start].node, body), body):
        quote.insert_child(node, move=True)
    if all(_is_blank(child) for child in _children(body)):
        return html, ""  # only a quote: nothing to fold
    return body.inner_html.strip(), quote.inner_html.strip()
