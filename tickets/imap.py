"""IMAP polling with imap-tools: fetch unseen mail without marking it, store
each message, and only then mark it seen, so a crash re-reads rather than
loses. Storing is idempotent (raw-bytes hash), so a re-read is harmless.

The server is whatever a tenant admin typed in, so it is treated as hostile:
the host must resolve to a public address (helpdesk.netguard) and the
connection goes to the address that was checked; every network step has a
timeout; TLS certificates are verified; and nothing the server says is
shown back to the admin (describe_error)."""

from __future__ import annotations

import imaplib
import logging
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from imap_tools import AND, BaseMailBox, MailBox, MailBoxUnencrypted, MailMessage, MailMessageFlags
from imap_tools.errors import MailboxFolderSelectError, MailboxLoginError

from helpdesk import netguard
from helpdesk.models import Tenant
from helpdesk.ratelimit import redis_client
from helpdesk.tenancy import tenant_context

from .intake import inbound_store
from .models import Mailbox

logger = logging.getLogger(__name__)


class RawMailMessage(MailMessage):
    """imap-tools' message, keeping the bytes exactly as the server sent them."""

    def __init__(self, fetch_data: list) -> None:
        self.raw = self._get_message_data_parts(fetch_data)[0]
        super().__init__(fetch_data)


class _CheckedIMAP4(imaplib.IMAP4):
    """imaplib over a socket from netguard: the host is resolved once, checked,
    and connected to at that address."""

    def _create_socket(self, timeout):
        sys.audit("imaplib.open", self, self.host, self.port)  # as imaplib's own does
        return netguard.connect(self.host, self.port, timeout=timeout)


class _CheckedIMAP4_SSL(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        sys.audit("imaplib.open", self, self.host, self.port)
        sock = netguard.connect(self.host, self.port, timeout=timeout)
        try:
            # The certificate is checked against the name, not the address.
            return self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class _MailBoxTLS(MailBox):
    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return _CheckedIMAP4_SSL(
            self._host, self._port, ssl_context=self._ssl_context, timeout=self._timeout
        )


class _MailBoxPlain(MailBoxUnencrypted):
    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return _CheckedIMAP4(self._host, self._port, timeout=self._timeout)


def _tls_context() -> ssl.SSLContext:
    # The system's CAs, certificate and host name both verified (imaplib's
    # own default context checks neither). SSL_CERT_FILE points OpenSSL at
    # another CA bundle, for a server with a private CA.
    return ssl.create_default_context()


@contextmanager
def _session(mailbox: Mailbox) -> Iterator[BaseMailBox]:
    """A logged-in connection with the folder selected; closed however the
    block ends."""
    timeout = settings.IMAP_TIMEOUT_SECONDS
    if mailbox.imap_ssl:
        client = _MailBoxTLS(
            mailbox.imap_host, mailbox.imap_port, timeout=timeout, ssl_context=_tls_context()
        )
    else:
        client = _MailBoxPlain(mailbox.imap_host, mailbox.imap_port, timeout=timeout)
    client.email_message_class = RawMailMessage
    try:
        client.login(mailbox.imap_user, mailbox.imap_password, mailbox.imap_folder)
        yield client
    except BaseException:
        # No LOGOUT after a failure: it waits for an answer that a server
        # which just failed us may never send.
        _close(client.client)
        raise
    try:
        client.client.logout()
    except (OSError, imaplib.IMAP4.error):
        _close(client.client)  # the mail is stored; a rude goodbye changes nothing


def _close(client: imaplib.IMAP4) -> None:
    with suppress(OSError):
        client.shutdown()


def describe_error(exc: BaseException) -> str:
    """What went wrong, in words an admin can act on. Never the server's own
    words: its greeting and error text are whatever the far end chose."""
    timeout = settings.IMAP_TIMEOUT_SECONDS
    if isinstance(exc, netguard.HostRefused):
        return str(exc)  # our own words (helpdesk.netguard)
    if isinstance(exc, SoftTimeLimitExceeded):
        return (
            f"The poll took longer than {settings.IMAP_POLL_TIME_LIMIT_SECONDS} seconds and "
            "was stopped; mail stored so far is kept and the next poll goes on."
        )
    if isinstance(exc, MailboxLoginError):
        return "The IMAP server refused the user name or password."
    if isinstance(exc, MailboxFolderSelectError):
        return "The IMAP server would not open that folder; check the folder name."
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "Could not connect securely (certificate problem)."
    if isinstance(exc, ssl.SSLError):
        return "Could not connect securely (TLS failed); check the port and the TLS setting."
    if isinstance(exc, TimeoutError):
        seconds = f"{timeout} second" if timeout == 1 else f"{timeout} seconds"
        return f"The IMAP server did not answer within {seconds}."
    if isinstance(exc, ConnectionRefusedError):
        return "Nothing answers at that IMAP host and port."
    if isinstance(exc, ConnectionError | imaplib.IMAP4.abort):
        return "The IMAP server closed the connection or answered with something that is not IMAP."
    if isinstance(exc, imaplib.IMAP4.error):
        return "The IMAP server refused to talk to us (its greeting or a command failed)."
    if isinstance(exc, OSError):
        return "Could not reach the IMAP server (network error)."
    if isinstance(exc, Exception) and type(exc).__module__.startswith("imap_tools"):
        return "The IMAP server refused a command while mail was being fetched."
    return f"The poll failed unexpectedly ({type(exc).__name__}); the worker's log has details."


def imap_poll(*, mailbox: Mailbox, limit: int = 200) -> int:
    """Store up to `limit` unseen messages of one mailbox; returns how many.

    Each message is committed (with its processing enqueued) before it is
    flagged seen on the server.
    """
    tenant = Tenant.objects.get(pk=mailbox.tenant_id)
    stored = 0
    with _session(mailbox) as client:
        for message in client.fetch(AND(seen=False), mark_seen=False, limit=limit, bulk=True):
            # One transaction per message: committed when the block ends.
            with tenant_context(tenant):
                inbound_store(mailbox=mailbox, raw=message.raw)
            client.flag(message.uid, MailMessageFlags.SEEN, True)
            stored += 1
    return stored


def poll_lock_seconds() -> int:
    # Outlives the poll task's hard time limit, so a lock is never lost while
    # its poll still runs, and frees itself when a killed worker never
    # releases it.
    return settings.IMAP_POLL_TIME_LIMIT_SECONDS + 90


@contextmanager
def mailbox_poll_claim(mailbox_id: int) -> Iterator[bool]:
    """True inside the block if this worker may poll the mailbox: at most one
    poll per mailbox runs at a time, so a slow server holds one worker only.
    False (skip this poll) when another has it, or Redis cannot say."""
    lock = redis_client().lock(
        f"imap:poll:{mailbox_id}", timeout=poll_lock_seconds(), blocking=False
    )
    try:
        claimed = lock.acquire()
    except redis.RedisError:
        logger.warning("mailbox %s: not polled, the poll lock is unavailable", mailbox_id)
        claimed = False
    try:
        yield claimed
    finally:
        if claimed:
            with suppress(redis.RedisError):  # expired or Redis gone: the TTL frees it
                lock.release()
