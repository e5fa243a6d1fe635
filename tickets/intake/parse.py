"""Parsing: what intake needs from an RFC 822 message (stdlib, modern policy)."""

from __future__ import annotations

import functools
import html as html_lib
import mimetypes
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses

import nh3
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat

from .. import mail, services


class Unprocessable(Exception):
    """A message we keep but cannot turn into a ticket; the text is the reason."""


class _HeadersParsedOnce(EmailPolicy):
    """The stdlib's modern policy, except that MIME structure headers are
    parsed once.

    `policy.default` parses a header each time it is read, and walking the
    MIME tree reads each part's Content-Type a dozen times: that was most of
    the parsing time. Parsed headers are immutable, so equal ones are shared.
    Only structure headers are memoised: what people wrote (addresses,
    subjects) is not kept in the worker's memory after its mail.
    """

    def header_fetch_parse(self, name, value):
        if hasattr(value, "name"):
            return value  # set by code, parsed already
        if name.lower() in _STRUCTURE_HEADERS:
            return _structure_header_parsed(name, value)
        return super().header_fetch_parse(name, value)


_STRUCTURE_HEADERS = {"content-type", "content-disposition", "content-transfer-encoding"}


@functools.lru_cache(maxsize=1024)
def _structure_header_parsed(name: str, value: str):
    return policy.default.header_fetch_parse(name, value)


PARSING_POLICY = _HeadersParsedOnce()


@dataclass
class ParsedEmail:
    sender_email: str
    sender_name: str
    subject: str
    text: str
    html: str | None
    cc: list[str] = field(default_factory=list)
    attachments: list[SimpleUploadedFile] = field(default_factory=list)
    message_id: str = ""
    # In-Reply-To and References: the mails this one answers.
    answers: list[str] = field(default_factory=list)
    # An auto-reply, list or bulk mail: never acknowledged automatically.
    is_automatic: bool = False
    # A delivery failure report: the addresses that failed, and why.
    bounced_to: list[str] = field(default_factory=list)
    bounce_reason: str = ""
    # Our Message-IDs anywhere in the mail (a bounce quotes the lost mail).
    quoted_ids: list[str] = field(default_factory=list)


AUTOMATIC_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
AUTOMATIC_MARKERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "X-Loop")


def _is_automatic(message: EmailMessage) -> bool:
    if str(message.get("Return-Path", "")).strip() == "<>":
        return True  # a null return path: generated mail that wants no answer
    auto_submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if str(message.get("Precedence", "")).strip().lower() in AUTOMATIC_PRECEDENCE:
        return True
    return any(message.get(header) is not None for header in AUTOMATIC_MARKERS)


def _decoded(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError):
        # Unknown or lying charset: keep what can be read.
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")


def _bounce(message: EmailMessage, raw: bytes) -> tuple[list[str], str]:
    """The failed recipients and the reason, when this is a delivery failure report."""
    sender = str(message.get("From", "")).lower()
    is_report = (
        message.get_content_type() == "multipart/report"
        and message.get_param("report-type", "").lower() == "delivery-status"
    )
    if not is_report and not any(marker in sender for marker in BOUNCE_SENDERS):
        return [], ""
    text = raw.decode("utf-8", errors="replace")
    recipients = re.findall(r"(?im)^Final-Recipient:\s*rfc822;\s*<?([^\s>]+@[^\s>]+)>?", text)
    reason = re.search(r"(?im)^Diagnostic-Code:\s*(.+)$", text)
    return (
        sorted({address.lower() for address in recipients}),
        (reason.group(1).strip() if reason else "The mail server did not deliver it.")[:500],
    )


def _leaf_parts(part: EmailMessage):
    """Every part that is not a multipart container, in order. An attached
    mail (message/rfc822) is one part: its own parts belong to it."""
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        for sub in part.get_payload():
            yield from _leaf_parts(sub)
    else:
        yield part


_BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(?:p|div|li|tr|h[1-6]|blockquote)\s*>")


def _html_text(html: str) -> str:
    """A readable text version of HTML mail: line breaks kept, tags dropped."""
    text = nh3.clean(_BLOCK_END.sub("\n", html), tags=set())
    return re.sub(r"\n\s*\n\s*\n+", "\n\n", html_lib.unescape(text)).strip()


def _filename(text: str, fallback: str) -> str:
    name = re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", "_", text).strip(" ._")
    return name[:120] or fallback


def _attachment(part: EmailMessage) -> SimpleUploadedFile | None:
    """A mail part as a file: attached mails as .eml, inline images with
    their Content-ID so the HTML can show them in place."""
    if part.get_content_type() == "message/rfc822" and part.is_multipart():
        inner = part.get_payload(0)
        subject = " ".join(str(inner.get("Subject", "")).split())
        name = _filename(part.get_filename() or subject, "Attached message")
        if not name.lower().endswith(".eml"):
            name += ".eml"
        return SimpleUploadedFile(name, inner.as_bytes(), "message/rfc822")
    payload = part.get_payload(decode=True)
    if payload is None:
        return None
    content_type = part.get_content_type()
    extension = mimetypes.guess_extension(content_type) or ".bin"
    upload = SimpleUploadedFile(
        _filename(part.get_filename() or "", f"attachment{extension}"), payload, content_type
    )
    upload.content_id = str(part.get("Content-ID", "")).strip().strip("<>")
    return upload


def _kept_attachments(parts: list[EmailMessage]) -> tuple[list[SimpleUploadedFile], list[str]]:
    """The files we keep, and a sentence for each we do not (the raw mail
    still holds them)."""
    kept, refused = [], []
    for part in parts:
        upload = _attachment(part)
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


def parse_email(raw: bytes) -> ParsedEmail:
    """Read what intake needs from an RFC 822 message (stdlib, modern policy)."""
    if len(raw) > settings.INBOUND_EMAIL_MAX_BYTES:
        limit = filesizeformat(settings.INBOUND_EMAIL_MAX_BYTES)
        raise Unprocessable(f"Larger than the limit for incoming mail ({limit}).")
    message = BytesParser(policy=PARSING_POLICY).parsebytes(raw)
    message_id = str(message.get("Message-ID", "")).strip()
    if mail.is_our_message_id(message_id):
        raise Unprocessable("Our own outgoing mail came back to us (a mail loop); not filed.")
    senders = getaddresses([str(value) for value in message.get_all("From", [])])
    sender_name, sender_email = senders[0] if senders else ("", "")
    if not sender_email or "@" not in sender_email:
        raise Unprocessable("The message has no sender address (From).")
    cc = [addr for _, addr in getaddresses([str(v) for v in message.get_all("Cc", [])]) if addr]
    bounced_to, bounce_reason = _bounce(message, raw)
    subject = " ".join(str(message.get("Subject", "")).split())

    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    html = _decoded(html_part) if html_part is not None else None
    text = _decoded(text_part).strip() if text_part is not None else ""
    if not text and html:
        text = _html_text(html)
    others = []
    for part in _leaf_parts(message):
        if part is text_part or part is html_part:
            continue
        if part.get_content_maintype() == "multipart":
            # A multipart whose boundary is missing or wrong: its body is
            # unsplit text; better shown than lost.
            if not text:
                text = _decoded(part).strip()
            continue
        others.append(part)
    attachments, refused = _kept_attachments(others)
    if not text and not attachments and not bounced_to:
        raise Unprocessable("The message has no text and no attachments.")
    if refused:
        notice = "Not kept (the original mail is stored): " + " ".join(refused)
        text = f"{text}\n\n[{notice}]".strip()
        if html:
            html += f"<p><em>[{html_lib.escape(notice)}]</em></p>"
    return ParsedEmail(
        sender_email=sender_email.lower(),
        sender_name=sender_name,
        subject=subject or "(no subject)",
        text=text or "(see attachments)",
        html=html,
        cc=cc,
        attachments=attachments,
        message_id=message_id[:250],
        answers=re.findall(
            r"<[^<>\s]+>",
            " ".join(str(message.get(h, "")) for h in ("In-Reply-To", "References")),
        ),
        is_automatic=bool(bounced_to) or _is_automatic(message),
        bounced_to=bounced_to,
        bounce_reason=bounce_reason,
        quoted_ids=mail.ids_in(raw.decode("utf-8", errors="replace")) if bounced_to else [],
    )
