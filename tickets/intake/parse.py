"""Parsing: what intake needs from an RFC 822 message.

The stdlib's parser (modern policy) splits the MIME tree (`body.py` reads
it). Headers are read from their raw values (`charsets.header_text`): the
stdlib turns raw 8-bit bytes and mislabelled encoded words into U+FFFD, and
drops the name of the old `user@example.com (Full Name)` form.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.html import escape as html_escape

from .. import mail
from ..validators import validate_mail_address
from .body import Body, flat_text, kept_attachments, read_body
from .charsets import decode_text, header_text


class Unprocessable(Exception):
    """A message we keep but cannot turn into a ticket; the text is the reason."""


class _HeadersParsedOnce(EmailPolicy):
    """The stdlib's modern policy, except that MIME structure headers are
    parsed once.

    `policy.default` parses a header each time it is read, and walking the
    MIME tree reads each part's Content-Type a dozen times: that was most of
    the parsing time. Parsed headers are immutable, so equal ones are shared.
    Only structure headers are memoised, and the memo is cleared after each
    mail (`parse_email`): they can hold attachment file names, and nothing a
    customer wrote stays in the worker's memory after its mail.
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
    # The Date header as sent: with sender and subject, what tells two
    # copies of one mail from two mails.
    date: str = ""
    # In-Reply-To and References: the mails this one answers.
    answers: list[str] = field(default_factory=list)
    # An auto-reply, list or bulk mail: never acknowledged automatically.
    is_automatic: bool = False
    # A delivery failure report: the addresses that failed, and why.
    bounced_to: list[str] = field(default_factory=list)
    bounce_reason: str = ""
    # Our Message-IDs anywhere in the mail (a bounce quotes the lost mail).
    quoted_ids: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- headers


def raw_values(message: EmailMessage, name: str) -> list[str]:
    """A header's raw values, as sent (8-bit bytes as surrogate escapes)."""
    name = name.lower()
    return [str(value) for key, value in message.raw_items() if key.lower() == name]


# Control characters: Postgres refuses NUL in text, and none belongs in a
# header or a body people read.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable(text: str) -> str:
    return _CONTROL.sub("", text)


def header(message: EmailMessage, name: str) -> str:
    values = raw_values(message, name)
    return " ".join(printable(header_text(values[0])).split()) if values else ""


def addresses(message: EmailMessage, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header, every value of
    it. Addresses are split before encoded words are decoded, so a comma
    inside an encoded name does not split it."""
    found = []
    for value in raw_values(message, name):
        value = re.sub(r"\r?\n[ \t]", " ", value)
        if not value.isascii():
            value = decode_text(value.encode("utf-8", errors="surrogateescape"))
        for display, address in getaddresses([value]):
            found.append((" ".join(printable(header_text(display)).split()), address.strip()))
    return found


def usable_address(address: str) -> bool:
    try:
        validate_mail_address(address.lower())
    except ValidationError:
        return False
    return True


def _sender(message: EmailMessage) -> tuple[str, str]:
    """Who to answer: the first usable From (a first From may be empty),
    else Reply-To, else Sender."""
    for name in ("From", "Reply-To", "Sender"):
        for display, address in addresses(message, name):
            if usable_address(address):
                return display, address.lower()
    raise Unprocessable("The message has no usable sender address (From, Reply-To or Sender).")


def _usable_list(message: EmailMessage, *names: str) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        for _, address in addresses(message, name):
            if usable_address(address):
                seen.setdefault(address.lower())
    return list(seen)


def headline(raw: bytes) -> dict[str, str]:
    """Sender, subject and recipients for admins' lists, read from the
    header block only (cheap enough for the webhook). Never raises."""
    try:
        message = BytesHeaderParser(policy=PARSING_POLICY).parsebytes(raw[:262_144])
        sender = next(
            (
                f"{display} <{address}>" if display else address
                for name in ("From", "Reply-To", "Sender")
                for display, address in addresses(message, name)
                if address
            ),
            "",
        )
        recipients = ", ".join(
            address for _, address in addresses(message, "To") + addresses(message, "Cc")
        )
        return {
            "sender": printable(sender)[:300],
            "subject": header(message, "Subject")[:300],
            "recipients": printable(recipients)[:1000],
        }
    except Exception:  # noqa: BLE001 - a list entry; the mail itself is stored as is
        return {"sender": "", "subject": "", "recipients": ""}


# ---------------------------------------------------------------- automatic mail

AUTOMATIC_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
AUTOMATIC_MARKERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Auto-Response-Suppress",
    "X-Loop",
    "List-Id",
    "List-Unsubscribe",
)
# Addresses nobody reads: answering them only feeds loops and bounces.
_MACHINE_SENDER = re.compile(
    r"^(mailer-daemon|postmaster|(no|do[-_.]?not)[-_.]?reply)([-+_.].*)?@", re.IGNORECASE
)


def _is_automatic(message: EmailMessage, sender_email: str) -> bool:
    if header(message, "Return-Path") == "<>":
        return True  # a null return path: generated mail that wants no answer
    auto_submitted = header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if header(message, "Precedence").lower() in AUTOMATIC_PRECEDENCE:
        return True
    if _MACHINE_SENDER.match(sender_email):
        return True
    return any(message.get(marker) is not None for marker in AUTOMATIC_MARKERS)


BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")


def _bounce(message: EmailMessage, raw: bytes, sender_email: str) -> tuple[list[str], str]:
    """The failed recipients and the reason, when this is a delivery failure report."""
    is_report = (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "")).lower() == "delivery-status"
    )
    if not is_report and not sender_email.startswith(BOUNCE_SENDERS):
        return [], ""
    text = raw.decode("utf-8", errors="replace")
    recipients = re.findall(r"(?im)^Final-Recipient:\s*rfc822;\s*<?([^\s>]+@[^\s>]+)>?", text)
    reason = re.search(r"(?im)^Diagnostic-Code:\s*(.+)$", text)
    return (
        sorted({address.lower() for address in recipients}),
        (reason.group(1).strip() if reason else "The mail server did not deliver it.")[:500],
    )


# ---------------------------------------------------------------- the whole mail


def with_notes(text: str, html: str | None, notes: list[str]) -> tuple[str, str | None]:
    """The body with notes for people on what intake left out, in brackets."""
    for note in notes:
        text = f"{text}\n\n[{note}]".strip()
        if html is not None:
            html += f"<p><em>[{html_escape(note)}]</em></p>"
    return text, html


def parse_email(raw: bytes, *, force: bool = False) -> ParsedEmail:
    """Read what intake needs from an RFC 822 message.

    `force` is an admin's "File anyway": the size limit, the loop guard and
    bounce handling are set aside, and the mail is never acknowledged.
    """
    if len(raw) > settings.INBOUND_EMAIL_MAX_BYTES and not force:
        limit = filesizeformat(settings.INBOUND_EMAIL_MAX_BYTES)
        raise Unprocessable(f"Larger than the limit for incoming mail ({limit}).")
    try:
        return _parse_email(raw, force)
    finally:
        _structure_header_parsed.cache_clear()


def _parse_email(raw: bytes, force: bool) -> ParsedEmail:
    try:
        message = BytesParser(policy=PARSING_POLICY).parsebytes(raw)
        body = read_body(message, seconds=settings.INBOUND_PARSE_SECONDS)
        attachments, refused = kept_attachments(body.parts)
    except RecursionError:
        # Nested past what the stdlib's parser can walk: the headers, and
        # the text its parts hold.
        message = BytesHeaderParser(policy=PARSING_POLICY).parsebytes(raw)
        note = "This mail is nested too deeply to read whole; the text found in it is shown."
        body, attachments, refused = Body(text=flat_text(raw), notes=[note]), [], []
    message_id = header(message, "Message-ID")
    if mail.is_our_message_id(message_id) and not force:
        raise Unprocessable("Our own outgoing mail came back to us (a mail loop); not filed.")
    sender_name, sender_email = _sender(message)
    bounced_to, bounce_reason = ([], "") if force else _bounce(message, raw, sender_email)
    cc = [address for address in _usable_list(message, "Cc") if address != sender_email]
    notes = list(body.notes)
    if refused:
        notes.append("Not kept (the original mail is stored): " + " ".join(refused))
    text = printable(body.text).strip()
    html = printable(body.html) if body.html is not None else None
    text, html = with_notes(text, html, notes)
    if not text:
        text = "(see attachments)" if attachments else "(no text)"
    return ParsedEmail(
        sender_email=sender_email,
        sender_name=sender_name[:160],
        subject=header(message, "Subject") or "(no subject)",
        text=text,
        html=html,
        cc=cc,
        attachments=attachments,
        message_id=message_id[:250],
        date=header(message, "Date")[:100],
        answers=re.findall(
            r"<[^<>\s]+>", " ".join(header(message, h) for h in ("In-Reply-To", "References"))
        ),
        is_automatic=force or bool(bounced_to) or _is_automatic(message, sender_email),
        bounced_to=bounced_to,
        bounce_reason=bounce_reason,
        quoted_ids=mail.ids_in(raw.decode("utf-8", errors="replace")) if bounced_to else [],
    )
