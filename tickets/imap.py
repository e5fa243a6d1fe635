"""IMAP polling with imap-tools: fetch unseen mail without marking it, store
each message, and only then mark it seen, so a crash re-reads rather than
loses. Storing is idempotent (raw-bytes hash), so a re-read is harmless."""

from __future__ import annotations

from imap_tools import AND, MailBox, MailBoxUnencrypted, MailMessage, MailMessageFlags
from imap_tools.errors import MailboxLoginError

from helpdesk.models import Tenant
from helpdesk.tenancy import tenant_context

from .intake import inbound_store
from .models import Mailbox


class RawMailMessage(MailMessage):
    """imap-tools' message, keeping the bytes exactly as the server sent them."""

    def __init__(self, fetch_data: list) -> None:
        self.raw = self._get_message_data_parts(fetch_data)[0]
        super().__init__(fetch_data)


def _connect(mailbox: Mailbox):
    client_class = MailBox if mailbox.imap_ssl else MailBoxUnencrypted
    client = client_class(mailbox.imap_host, mailbox.imap_port)
    client.email_message_class = RawMailMessage
    return client.login(mailbox.imap_user, mailbox.imap_password, mailbox.imap_folder)


def describe_error(exc: Exception) -> str:
    """What went wrong, in words an admin can act on."""
    if isinstance(exc, MailboxLoginError):
        return "The IMAP server refused the user name or password."
    if isinstance(exc, ConnectionRefusedError):
        return "Nothing answers at that IMAP host and port."
    if isinstance(exc, OSError):
        return f"Could not reach the IMAP server: {exc}"
    return f"{type(exc).__name__}: {exc}"


def imap_poll(*, mailbox: Mailbox, limit: int = 200) -> int:
    """Store up to `limit` unseen messages of one mailbox; returns how many.

    Each message is committed (with its processing enqueued) before it is
    flagged seen on the server.
    """
    tenant = Tenant.objects.get(pk=mailbox.tenant_id)
    stored = 0
    with _connect(mailbox) as client:
        for message in client.fetch(AND(seen=False), mark_seen=False, limit=limit, bulk=True):
            # One transaction per message: committed when the block ends.
            with tenant_context(tenant):
                inbound_store(mailbox=mailbox, raw=message.raw)
            client.flag(message.uid, MailMessageFlags.SEEN, True)
            stored += 1
    return stored
