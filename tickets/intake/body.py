"""The body of a mail: its text, its HTML and its files, from the MIME tree.

Clients build the tree differently: a text/plain part with an HTML
alternative, HTML with its images beside it (multipart/related), Apple
Mail's text parts alternating with attachments, a forwarded mail inside the
mail. The walk below reads every shape into one text, one HTML version (or
none) and the files, in order, and bounds its work: a hostile mail can cost
a worker at most a few seconds.
"""

from __future__ import annotations

import base64
import html as html_lib
import mimetypes
import quopri
import re
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

import nh3
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat

from .. import services
from .charsets import decode_text

# MIME nesting deeper than this is not walked (real mail nests a few levels;
# the stdlib's own walk would hit Python's recursion limit near 1,000).
MAX_MIME_DEPTH = 40


@dataclass
class Body:
    text: str = ""
    html: str | None = None
    parts: list[EmailMessage] = field(default_factory=list)  # the files, in order
    notes: list[str] = field(default_factory=list)  # what was left out, for people


@dataclass
class _Budget:
    """Wall-clock time one mail may take; past it, the rest is read cheaply."""

    deadline: float

    def spent(self) -> bool:
        return time.monotonic() > self.deadline


def read_body(message: EmailMessage, *, seconds: float) -> Body:
    """The mail's text, HTML and files (see the module docstring). HTML too
    large or complex to sanitise, or past the time budget, is left out with
    a note, and the text shown instead."""
    hints = tuple(_charset_labels(message))
    body = Body()
    budget = _Budget(time.monotonic() + seconds)
    text, html, parts = _walk(message, 0, hints, body, budget)
    body.text, body.parts = text or "", parts
    if html is not None:
        refusal = html_refusal(html)
        if refusal is None and budget.spent():
            refusal = "reading the mail took too long"
        if refusal:
            body.notes.append(
                f"The HTML version of this mail is not shown ({refusal}); its text is."
            )
            body.text = body.text or html_text_cheaply(html)
            html = None
    if html is not None and not body.text:
        body.text = html_text(html)
    body.html = html
    return body


_BOUNDARY_LINE = re.compile(rb"(?m)^--[^\r\n]*\r?\n?")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def flat_text(raw: bytes) -> str:
    """The text parts of a mail nested too deeply for the stdlib's parser
    (its recursion ends near 1,000 levels): found by their boundary lines
    and their headers, without building the tree."""
    header_end = _BLANK_LINE.search(raw)
    texts = []
    for chunk in _BOUNDARY_LINE.split(raw[header_end.end() :] if header_end else b""):
        split = _BLANK_LINE.search(chunk)
        if split is None:
            continue
        headers = chunk[: split.start()].decode("latin-1").lower()
        if not re.search(r"content-type:\s*text/plain", headers):
            continue
        content = chunk[split.end() :]
        if "base64" in headers:
            content = base64.b64decode(content, validate=False)
        elif "quoted-printable" in headers:
            content = quopri.decodestring(content)
        charset = re.search(r'charset="?([\w.:-]+)', headers)
        texts.append(decode_text(content, charset.group(1) if charset else None).strip())
    return "\n\n".join(text for text in texts if text).replace("\r\n", "\n")


def _charset_labels(message: EmailMessage):
    """Every charset the mail labels anywhere (hints for unlabelled parts)."""
    stack = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        label = part.get_param("charset")
        if isinstance(label, str):
            yield label
        if part.is_multipart() and depth < MAX_MIME_DEPTH:
            stack.extend((sub, depth + 1) for sub in part.get_payload())


def _is_inline_text(part: EmailMessage) -> bool:
    """Text the sender wrote rather than a text file: no file name, not
    marked as an attachment."""
    return (
        part.get_content_type() in ("text/plain", "text/html")
        and part.get_content_disposition() != "attachment"
        and not part.get_filename()
    )


def _walk(part: EmailMessage, depth: int, hints, body: Body, budget: _Budget):
    """(text or None, html or None, file parts) of one part of the tree."""
    if depth > MAX_MIME_DEPTH or budget.spent():
        note = (
            f"Parts nested deeper than {MAX_MIME_DEPTH} levels were not read."
            if depth > MAX_MIME_DEPTH
            else "Reading the mail took too long; its later parts were not read."
        )
        if note not in body.notes:
            body.notes.append(note)
        return None, None, []
    maintype = part.get_content_maintype()
    if maintype == "multipart" and not part.is_multipart():
        # A multipart whose boundary is missing or wrong: its body is
        # unsplit text; better shown than lost.
        return _text_of(part, hints).strip() or None, None, []
    if maintype == "multipart":
        children = [_walk(sub, depth + 1, hints, body, budget) for sub in part.get_payload()]
        if part.get_content_subtype() == "alternative":
            return _alternative(children)
        return _together(children)
    if _is_inline_text(part):
        content = _text_of(part, hints)
        if part.get_content_subtype() == "html":
            return None, content, []
        return content.strip(), None, []
    return None, None, [part]


def _alternative(children):
    """One of several versions of the same content: the text from the
    plainest that has text, the HTML and files from the richest."""
    text = next((text for text, _, _ in children if text), None)
    rich = next((child for child in reversed(children) if child[1] is not None), None)
    if rich is None:
        rich = next((child for child in reversed(children) if child[0] or child[2]), (None,) * 3)
    html, parts = rich[1], rich[2] or []
    if text is None and rich[0]:
        text = rich[0]
    return text, html, parts


def _together(children):
    """Parts shown one after another (mixed, related, and the rest): texts
    joined in order; the HTML version, when any part has HTML, shows the
    text parts too."""
    texts, htmls, parts = [], [], []
    any_html = any(html is not None for _, html, _ in children)
    for text, html, child_parts in children:
        parts += child_parts
        if text is None and html is None:
            continue
        texts.append(text if text is not None else html_text(html))
        if any_html:
            htmls.append(html if html is not None else _text_as_html(text))
    text = "\n\n".join(t for t in texts if t) or None
    return text, ("\n".join(htmls) if any_html else None), parts


def _text_as_html(text: str | None) -> str:
    return "<p>" + html_lib.escape(text or "").replace("\n", "<br>") + "</p>"


def _text_of(part: EmailMessage, hints) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    text = decode_text(payload, part.get_param("charset"), hints)
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------- HTML bounds

# html5ever (inside nh3) takes time that grows with the square of some
# shapes: unclosed elements piling up, text or tags inside a table, one tag
# with tens of thousands of attributes. These bounds keep every shape under
# a second or so; mail past them is shown as text (the original is stored).
HTML_MAX_TAGS = 40_000
HTML_MAX_DEPTH = 200
HTML_MAX_TAG_LENGTH = 16_384

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)([^<>]*)>?")
# Elements that close themselves (void) or are closed by their next sibling:
# an unclosed one does not nest deeper.
_NO_NESTING = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "tbody",
    "thead", "tfoot", "colgroup", "rt", "rp", "html", "head", "body",
}  # fmt: skip


def html_refusal(html: str) -> str | None:
    """Why this HTML is too large or too complex to sanitise, or None."""
    limit = settings.INBOUND_HTML_MAX_BYTES
    if len(html) > limit:
        return f"larger than {filesizeformat(limit)}"
    depth = deepest = tags = 0
    for match in _TAG.finditer(html):
        tags += 1
        if tags > HTML_MAX_TAGS:
            return f"more than {HTML_MAX_TAGS:,} tags"
        if len(match.group(3)) > HTML_MAX_TAG_LENGTH:
            return "a tag too long to read"
        name = match.group(2).lower()
        if name in _NO_NESTING or match.group(3).rstrip().endswith("/"):
            continue
        depth += -1 if match.group(1) else 1
        deepest = max(deepest, depth)
        if deepest > HTML_MAX_DEPTH:
            return f"nested more than {HTML_MAX_DEPTH} levels deep"
    return None


_BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(?:p|div|li|tr|h[1-6]|blockquote)\s*>")


def html_text(html: str | None) -> str:
    """A readable text version of HTML mail: line breaks kept, tags dropped."""
    if not html:
        return ""
    if html_refusal(html):
        return html_text_cheaply(html)
    text = nh3.clean(_BLOCK_END.sub("\n", html), tags=set())
    return _tidy(html_lib.unescape(text))


_TOKENS = re.compile(r"(<[^<>]*>)")
_HIDDEN = {"style", "script", "head", "title"}


def html_text_cheaply(html: str) -> str:
    """Text from HTML too large or too complex to sanitise: tags dropped by
    a linear scan, the contents of style and script too."""
    out, hidden = [], None
    for token in _TOKENS.split(html):
        if not token.startswith("<"):
            if hidden is None:
                out.append(token)
            continue
        name = (
            token[1:].lstrip("/").split(None, 1)[0].rstrip(">/").lower() if len(token) > 2 else ""
        )
        if hidden is not None:
            if token.startswith("</") and name == hidden:
                hidden = None
            continue
        if name in _HIDDEN and not token.startswith("</"):
            hidden = name
        elif _BLOCK_END.fullmatch(token):
            out.append("\n")
    return _tidy(html_lib.unescape("".join(out)))


def _tidy(text: str) -> str:
    text = "\n".join(line.strip() for line in text.splitlines())
    return re.sub(r"\n\s*\n\s*\n+", "\n\n", text).strip()


# ---------------------------------------------------------------- files


def attachment(part: EmailMessage) -> SimpleUploadedFile | None:
    """A mail part as a file: attached mails as .eml, inline images with
    their Content-ID so the HTML can show them in place."""
    if part.get_content_type() == "message/rfc822" and part.is_multipart():
        inner = part.get_payload(0)
        subject = " ".join(str(inner.get("Subject", "")).split())
        name = services.attachment_name_normalised(
            part.get_filename() or subject, fallback="Attached message"
        )
        if not name.lower().endswith(".eml"):
            name += ".eml"
        return SimpleUploadedFile(name, inner.as_bytes(), "message/rfc822")
    payload = part.get_payload(decode=True)
    if payload is None:
        return None
    content_type = part.get_content_type()
    extension = mimetypes.guess_extension(content_type) or ".bin"
    name = services.attachment_name_normalised(
        part.get_filename() or "", fallback=f"attachment{extension}"
    )
    upload = SimpleUploadedFile(name, payload, content_type)
    upload.content_id = str(part.get("Content-ID", "")).strip().strip("<>")
    return upload


def kept_attachments(parts: list[EmailMessage]) -> tuple[list[SimpleUploadedFile], list[str]]:
    """The files we keep, and a sentence for each we do not (the raw mail
    still holds them)."""
    kept, refused = [], []
    for part in parts:
        upload = attachment(part)
        if upload is None:
            continue
        refusal = services.attachment_refusal(upload)
        if refusal is None and len(kept) >= settings.ATTACHMENT_MAX_FILES:
            refusal = f"{upload.name}: at most {settings.ATTACHMENT_MAX_FILES} files per message."
        if refusal:
            refused.append(refusal)
        else:
            kept.append(upload)
    return kept, refused
