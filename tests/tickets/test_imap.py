"""IMAP polling against a real IMAP server: Dovecot, started here on a free
port with a throwaway mail store (the test command installs Debian's
dovecot-imapd when it can)."""

import imaplib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from unittest import mock

import pytest

from helpdesk.tenancy import tenant_context
from tests.tickets.test_intake import mail
from tickets import imap, intake, services, tasks
from tickets.models import InboundEmail, Ticket

DOVECOT = os.environ.get("HELPDESK_DOVECOT", "/usr/sbin/dovecot")
USER, PASSWORD = "support@acme.example", "imap-secret"

pytestmark = pytest.mark.skipif(
    not os.path.exists(DOVECOT) or os.geteuid() != 0,
    reason=os.environ.get("HELPDESK_IMAP_SKIP_REASON", "Dovecot is not installed, or not root"),
)

CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/home/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
first_valid_uid = 1
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def imap_server():
    root = Path(tempfile.mkdtemp(prefix="helpdesk-imap-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes read their sockets here
    for folder in ("run", "state", "home"):
        (root / folder).mkdir()
    (root / "home").chmod(0o777)
    port = _free_port()
    (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=port))
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    server = subprocess.Popen([DOVECOT, "-F", "-c", str(root / "dovecot.conf")])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    server.terminate()
    server.wait(timeout=10)
    shutil.rmtree(root, ignore_errors=True)


def _append(port: int, *messages: bytes) -> None:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(USER, PASSWORD)
    for raw in messages:
        client.append("INBOX", None, None, raw)
    client.logout()


def _unseen(port: int) -> int:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(USER, PASSWORD)
    client.select("INBOX")
    _, data = client.search(None, "UNSEEN")
    client.logout()
    return len(data[0].split())


@pytest.fixture
def mailbox(tenant, imap_server):
    with tenant_context(tenant):
        box, _ = services.mailbox_create(
            name="Support",
            address="support@acme.example",
            imap_host="127.0.0.1",
            imap_port=imap_server,
            imap_ssl=False,
            imap_user=USER,
            imap_password=PASSWORD,
        )
    return box


@pytest.mark.django_db(transaction=True)
def test_polling_stores_each_message_then_marks_it_seen(tenant, mailbox, imap_server):
    first, second = mail(subject="From IMAP one"), mail(subject="From IMAP two")
    _append(imap_server, first, second)
    assert imap.imap_poll(mailbox=mailbox) == 2
    assert _unseen(imap_server) == 0
    with tenant_context(tenant):
        stored = {bytes(row.raw) for row in InboundEmail.objects.all()}
        # The exact bytes, as the server had them (line endings included).
        assert {raw.replace(b"\r\n", b"\n") for raw in stored} == {
            raw.replace(b"\r\n", b"\n") for raw in (first, second)
        }
        for inbound in InboundEmail.objects.all():
            intake.inbound_process(inbound=inbound)
        assert set(Ticket.objects.values_list("subject", flat=True)) == {
            "From IMAP one",
            "From IMAP two",
        }
    assert imap.imap_poll(mailbox=mailbox) == 0  # nothing unseen is left


@pytest.mark.django_db(transaction=True)
def test_a_message_that_could_not_be_stored_stays_unseen(tenant, mailbox, imap_server):
    _append(imap_server, mail(subject="Will be read again"))
    with mock.patch.object(imap, "inbound_store", side_effect=RuntimeError("database down")):
        with pytest.raises(RuntimeError):
            imap.imap_poll(mailbox=mailbox)
    assert _unseen(imap_server) == 1  # still there for the next poll
    assert imap.imap_poll(mailbox=mailbox) == 1
    assert _unseen(imap_server) == 0


@pytest.mark.django_db(transaction=True)
def test_a_wrong_password_is_shown_on_the_mailbox_until_fixed(
    tenant, mailbox, imap_server, admin_user
):
    with tenant_context(tenant):
        services.mailbox_update(mailbox=mailbox, actor=admin_user, imap_password="wrong")
    with pytest.raises(Exception, match="(?i)auth"):
        tasks.poll_imap_mailbox.apply(
            kwargs={"tenant_id": tenant.pk, "mailbox_id": mailbox.pk}, throw=True
        )
    with tenant_context(tenant):
        mailbox.refresh_from_db()
        assert mailbox.imap_error == "The IMAP server refused the user name or password."
        # Fixing the password clears the old error; the next poll works.
        services.mailbox_update(mailbox=mailbox, actor=admin_user, imap_password=PASSWORD)
    _append(imap_server, mail(subject="After the fix"))
    assert (
        tasks.poll_imap_mailbox.apply(
            kwargs={"tenant_id": tenant.pk, "mailbox_id": mailbox.pk}, throw=True
        ).get()
        == 1
    )
    with tenant_context(tenant):
        mailbox.refresh_from_db()
        assert mailbox.imap_error == "" and mailbox.imap_checked_at is not None
