"""IMAP polling against a real IMAP server (Dovecot, started here on a free
port with a throwaway mail store; the test command installs Debian's
dovecot-imapd when it can), and against small scripted servers that hang,
lie or insult: none of them may hold a worker past the timeout or put their
words in front of an admin."""

import imaplib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError
from django.db import connections
from django.urls import reverse
from redis.backoff import NoBackoff
from redis.retry import Retry

from helpdesk import netguard
from helpdesk.celery import app as celery_app
from helpdesk.tenancy import tenant_context
from tests.tickets.test_intake import mail
from tickets import imap, intake, services, tasks
from tickets.models import InboundEmail, Mailbox, Ticket

DOVECOT = os.environ.get("HELPDESK_DOVECOT", "/usr/sbin/dovecot")
USER, PASSWORD = "support@acme.example", "imap-secret"

needs_dovecot = pytest.mark.skipif(
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
def mailbox(tenant, imap_server, settings):
    settings.ALLOW_PRIVATE_HOSTS = True  # Dovecot listens on 127.0.0.1
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


@needs_dovecot
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


@needs_dovecot
@pytest.mark.django_db(transaction=True)
def test_a_message_that_could_not_be_stored_stays_unseen(tenant, mailbox, imap_server):
    _append(imap_server, mail(subject="Will be read again"))
    with mock.patch.object(imap, "inbound_store", side_effect=RuntimeError("database down")):
        with pytest.raises(RuntimeError):
            imap.imap_poll(mailbox=mailbox)
    assert _unseen(imap_server) == 1  # still there for the next poll
    assert imap.imap_poll(mailbox=mailbox) == 1
    assert _unseen(imap_server) == 0


@needs_dovecot
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


# ------------------------------------------------ scripted servers, no Dovecot

ATTACKER = "<b>Your account is suspended</b>, call +1 555 0100 now ATTACKER-TEXT"
PRIVATE = "That host is on a private network; this installation does not allow it."
CLOSE = object()  # a reply that hangs up instead


class ScriptedImapServer:
    """An IMAP server on 127.0.0.1 that follows a script: `greeting` is sent
    on connect (None: accept and never say a word); `replies` maps a command
    (LOGIN, UID SEARCH) to the lines sent back, `{tag}` filled in; a command
    not in the script is never answered."""

    def __init__(self, greeting=None, replies=None, tls=None):
        self.greeting, self.replies, self.tls = greeting, replies or {}, tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.accepted = threading.Event()
        self.open_sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.open_sockets.append(conn)
            self.accepted.set()
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        if self.greeting is None:
            return  # the socket stays open, silent, until the test ends
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
                self.open_sockets.append(conn)
            conn.sendall(self.greeting.encode() + b"\r\n")
            for line in conn.makefile("rb"):
                words = line.decode().split()
                tag, command = words[0], words[1].upper()
                if command == "UID":
                    command += " " + words[2].upper()
                reply = self.replies.get(command)
                if reply is CLOSE:
                    conn.close()
                    return
                if reply is not None:
                    conn.sendall(reply.replace("{tag}", tag).encode() + b"\r\n")
        except (OSError, ValueError, IndexError):
            pass  # the client gave up or hung up

    def close(self):
        self.listener.close()
        for conn in self.open_sockets:
            conn.close()


@pytest.fixture
def scripted_server():
    servers = []

    def start(greeting=None, replies=None, tls=None):
        servers.append(ScriptedImapServer(greeting, replies, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def quick(settings):
    """Servers here are local, and a test waits one second, not thirty."""
    settings.ALLOW_PRIVATE_HOSTS = True
    settings.IMAP_TIMEOUT_SECONDS = 1
    return settings


def _mailbox_at(tenant, port, *, host="127.0.0.1", imap_ssl=False):
    with tenant_context(tenant):
        box, _ = services.mailbox_create(
            name="Support",
            address="support@acme.example",
            imap_host=host,
            imap_port=port,
            imap_ssl=imap_ssl,
            imap_user=USER,
            imap_password=PASSWORD,
        )
    return box


def _poll(tenant, mailbox):
    """One poll task, run as a worker runs it; the mailbox as it then stands."""
    result = tasks.poll_imap_mailbox.apply(
        kwargs={"tenant_id": tenant.pk, "mailbox_id": mailbox.pk}
    )
    with tenant_context(tenant):
        mailbox.refresh_from_db()
    return result


@pytest.fixture
def resolver():
    """Host names answer what the test says (`resolver["mail.acme.example"] =
    "93.184.216.34"`); IP addresses and localhost resolve as usual."""
    answers = {}
    real = netguard._lookup

    def lookup(host, port):
        if host not in answers:
            return real(host, port)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    with mock.patch.object(netguard, "_lookup", lookup):
        yield answers


@pytest.mark.parametrize("imap_ssl", [False, True])
def test_a_server_that_never_answers_fails_the_poll_within_the_timeout(
    tenant, quick, scripted_server, imap_ssl
):
    server = scripted_server(greeting=None)  # accepts, then silence
    mailbox = _mailbox_at(tenant, server.port, imap_ssl=imap_ssl)
    started = time.monotonic()
    result = _poll(tenant, mailbox)
    assert time.monotonic() - started < 5
    assert isinstance(result.result, TimeoutError)
    assert mailbox.imap_error == "The IMAP server did not answer within 1 second."
    assert mailbox.imap_checked_at is not None


def test_a_server_that_stops_answering_after_login_fails_the_poll_too(
    tenant, quick, scripted_server
):
    server = scripted_server(
        greeting="* OK ready",
        replies={
            "CAPABILITY": "* CAPABILITY IMAP4rev1\r\n{tag} OK done",
            "LOGIN": "{tag} OK logged in",
            "SELECT": "* 3 EXISTS\r\n{tag} OK [READ-WRITE] selected",
            # UID SEARCH: never answered
        },
    )
    mailbox = _mailbox_at(tenant, server.port)
    started = time.monotonic()
    _poll(tenant, mailbox)
    assert time.monotonic() - started < 5
    assert mailbox.imap_error == "The IMAP server did not answer within 1 second."


@pytest.mark.django_db(transaction=True)
def test_a_second_poll_of_a_mailbox_being_polled_does_nothing(tenant, settings, scripted_server):
    settings.ALLOW_PRIVATE_HOSTS = True
    settings.IMAP_TIMEOUT_SECONDS = 2
    server = scripted_server(greeting=None)
    mailbox = _mailbox_at(tenant, server.port)

    def first_poll():
        try:
            _poll(tenant, Mailbox(pk=mailbox.pk, tenant_id=tenant.pk))
        finally:
            connections.close_all()  # this thread's database connection

    first = threading.Thread(target=first_poll)
    first.start()
    assert server.accepted.wait(5)  # the first poll is connected and waiting
    started = time.monotonic()
    second = _poll(tenant, mailbox)
    assert second.result == 0 and time.monotonic() - started < 1
    assert mailbox.imap_checked_at is None  # the second poll recorded nothing
    first.join(10)
    assert not first.is_alive()
    assert server.connections == 1
    with tenant_context(tenant):
        mailbox.refresh_from_db()
    assert mailbox.imap_error == "The IMAP server did not answer within 2 seconds."
    # The first poll let go: the next one connects again.
    _poll(tenant, mailbox)
    assert server.connections == 2


def test_a_poll_is_skipped_not_crashed_when_redis_is_unreachable(tenant, quick, scripted_server):
    server = scripted_server(greeting=None)
    mailbox = _mailbox_at(tenant, server.port)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = redis.Redis(port=closed_port, retry=Retry(NoBackoff(), 0))
    with mock.patch.object(imap, "redis_client", return_value=unreachable):
        result = _poll(tenant, mailbox)
    assert result.successful() and result.result == 0
    assert server.connections == 0 and mailbox.imap_error == ""


HOSTILE_SCRIPTS = {
    "greeting says bye": ("* BYE " + ATTACKER, {}),
    "not an IMAP server": ("HTTP/1.1 400 " + ATTACKER, {}),
    "capabilities are a lie": (
        "* OK hi",
        {"CAPABILITY": "* CAPABILITY " + ATTACKER + "\r\n{tag} OK"},
    ),
    "login refused": (
        "* OK " + ATTACKER,
        {
            "CAPABILITY": "* CAPABILITY IMAP4rev1\r\n{tag} OK done",
            "LOGIN": "{tag} NO [AUTHENTICATIONFAILED] " + ATTACKER,
        },
    ),
    "folder refused": (
        "* OK " + ATTACKER,
        {
            "CAPABILITY": "* CAPABILITY IMAP4rev1\r\n{tag} OK done",
            "LOGIN": "{tag} OK " + ATTACKER,
            "SELECT": "{tag} NO " + ATTACKER,
        },
    ),
    "search refused": (
        "* OK " + ATTACKER,
        {
            "CAPABILITY": "* CAPABILITY IMAP4rev1\r\n{tag} OK done",
            "LOGIN": "{tag} OK logged in",
            "SELECT": "* 1 EXISTS\r\n{tag} OK [READ-WRITE] " + ATTACKER,
            "UID SEARCH": "{tag} BAD " + ATTACKER,
        },
    ),
    "hangs up mid-way": (
        "* OK " + ATTACKER,
        {
            "CAPABILITY": "* CAPABILITY IMAP4rev1\r\n{tag} OK done",
            "LOGIN": "{tag} OK logged in",
            "SELECT": CLOSE,
        },
    ),
}


@pytest.mark.parametrize("script", HOSTILE_SCRIPTS.values(), ids=HOSTILE_SCRIPTS.keys())
def test_what_a_hostile_server_says_never_reaches_the_admin(
    tenant, quick, scripted_server, admin_user, login, script
):
    greeting, replies = script
    server = scripted_server(greeting=greeting, replies=replies)
    mailbox = _mailbox_at(tenant, server.port)
    result = _poll(tenant, mailbox)
    assert result.failed()
    assert mailbox.imap_error.startswith("The IMAP server ")
    page = login(admin_user).get(reverse("tickets:mailboxes", args=[tenant.slug])).content
    # "555 0100", not "555": the page shows the server's port, which may hold 555.
    for word in ("ATTACKER", "suspended", "555 0100", "<b>", "&lt;b&gt;"):
        assert word not in mailbox.imap_error
        assert word not in page.decode()


def test_a_wrong_password_is_told_in_plain_words(tenant, quick, scripted_server):
    server = scripted_server(*HOSTILE_SCRIPTS["login refused"])
    mailbox = _mailbox_at(tenant, server.port)
    _poll(tenant, mailbox)
    assert mailbox.imap_error == "The IMAP server refused the user name or password."


def test_nothing_listening_is_told_in_plain_words(tenant, quick):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    mailbox = _mailbox_at(tenant, closed_port)
    _poll(tenant, mailbox)
    assert mailbox.imap_error == "Nothing answers at that IMAP host and port."


# ------------------------------------------------------------ TLS certificates


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name`, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _tls_server(scripted_server, cert_path, key_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return scripted_server(*HOSTILE_SCRIPTS["login refused"], tls=context)


def test_a_certificate_nobody_vouches_for_is_refused(tenant, quick, scripted_server, tmp_path):
    server = _tls_server(scripted_server, *_certificate(tmp_path, "localhost"))
    mailbox = _mailbox_at(tenant, server.port, host="localhost", imap_ssl=True)
    _poll(tenant, mailbox)
    assert mailbox.imap_error == "Could not connect securely (certificate problem)."


def test_the_certificate_is_checked_against_the_host_name(tenant, quick, scripted_server, tmp_path):
    # Connected to the checked address (127.0.0.1), verified for the name the
    # admin typed: a trusted certificate for "localhost" passes, one for
    # another name does not.
    good = _certificate(tmp_path, "localhost")
    other = _certificate(tmp_path, "mail.elsewhere.example")
    for (cert_path, key_path), expected in (
        (good, "The IMAP server refused the user name or password."),
        (other, "Could not connect securely (certificate problem)."),
    ):
        server = _tls_server(scripted_server, cert_path, key_path)
        mailbox = _mailbox_at(tenant, server.port, host="localhost", imap_ssl=True)
        trusting = ssl.create_default_context(cafile=str(cert_path))
        with mock.patch.object(imap, "_tls_context", return_value=trusting):
            _poll(tenant, mailbox)
        assert mailbox.imap_error == expected
        with tenant_context(tenant):
            mailbox.delete()


def test_plain_text_on_the_tls_port_is_told_apart(tenant, quick, scripted_server):
    server = scripted_server(*HOSTILE_SCRIPTS["login refused"])
    mailbox = _mailbox_at(tenant, server.port, host="localhost", imap_ssl=True)
    _poll(tenant, mailbox)
    assert mailbox.imap_error.startswith("Could not connect securely (TLS failed)")


# ------------------------------------------- private hosts, on saving and polling


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "2130706433",
        "169.254.169.254",
        "10.0.0.8",
        "100.64.1.1",
        "::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",  # noqa: S104 (a host refused, not bound)
    ],
)
def test_a_mailbox_on_a_private_host_is_refused_when_saved(tenant, settings, host):
    settings.ALLOW_PRIVATE_HOSTS = False
    with tenant_context(tenant):
        with pytest.raises(ValidationError) as refused:
            _mailbox_at(tenant, 993, host=host)
        assert refused.value.message_dict == {"imap_host": [PRIVATE]}
        assert not Mailbox.objects.exists()


def test_the_mailbox_form_says_why_a_private_host_is_refused(tenant, settings, admin_user, login):
    settings.ALLOW_PRIVATE_HOSTS = False
    page = login(admin_user).post(
        reverse("tickets:mailboxes", args=[tenant.slug]),
        {
            "name": "Support",
            "address": "help@acme.example",
            "is_active": "on",
            "imap_host": "169.254.169.254",
            "imap_port": "993",
            "imap_user": "help",
            "imap_password": "secret",
            "imap_folder": "INBOX",
        },
    )
    assert page.status_code == 400
    assert PRIVATE in page.content.decode()
    with tenant_context(tenant):
        assert not Mailbox.objects.exists()


def test_moving_a_mailbox_to_a_private_host_is_refused(tenant, settings, resolver, admin_user):
    settings.ALLOW_PRIVATE_HOSTS = False
    resolver["mail.acme.example"] = "93.184.216.34"
    mailbox = _mailbox_at(tenant, 993, host="mail.acme.example")
    with tenant_context(tenant):
        with pytest.raises(ValidationError, match="private network"):
            services.mailbox_update(mailbox=mailbox, actor=admin_user, imap_host="10.9.8.7")
        mailbox.refresh_from_db()
    assert mailbox.imap_host == "mail.acme.example"


def test_the_setting_allows_private_hosts(tenant, settings):
    settings.ALLOW_PRIVATE_HOSTS = True
    mailbox = _mailbox_at(tenant, 143, host="10.0.0.8")
    assert mailbox.imap_host == "10.0.0.8"


def test_a_host_that_does_not_resolve_is_refused_clearly(tenant, settings, resolver):
    settings.ALLOW_PRIVATE_HOSTS = False

    def not_found(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with mock.patch.object(netguard, "_lookup", not_found), tenant_context(tenant):
        with pytest.raises(ValidationError) as refused:
            _mailbox_at(tenant, 993, host="imap.acme.example")
    assert refused.value.message_dict == {
        "imap_host": ["That host name does not resolve to any address; check the spelling."]
    }


def test_a_port_outside_the_range_is_refused(tenant, settings, resolver):
    resolver["mail.acme.example"] = "93.184.216.34"
    with tenant_context(tenant), pytest.raises(ValidationError, match="1 to 65535"):
        _mailbox_at(tenant, 70000, host="mail.acme.example")


def test_the_poll_checks_the_host_again_when_it_connects(
    tenant, settings, resolver, scripted_server
):
    # Saved while the name pointed somewhere public; by poll time it points
    # at this machine (DNS rebinding, or a record changed later).
    settings.ALLOW_PRIVATE_HOSTS = False
    server = scripted_server(*HOSTILE_SCRIPTS["login refused"])
    resolver["mail.acme.example"] = "93.184.216.34"
    mailbox = _mailbox_at(tenant, server.port, host="mail.acme.example")
    resolver["mail.acme.example"] = "127.0.0.1"
    _poll(tenant, mailbox)
    assert mailbox.imap_error == PRIVATE
    assert server.connections == 0


def test_turning_the_setting_off_stops_polls_of_private_hosts(tenant, settings, scripted_server):
    settings.ALLOW_PRIVATE_HOSTS = True
    server = scripted_server(*HOSTILE_SCRIPTS["login refused"])
    mailbox = _mailbox_at(tenant, server.port)
    settings.ALLOW_PRIVATE_HOSTS = False
    _poll(tenant, mailbox)
    assert mailbox.imap_error == PRIVATE
    assert server.connections == 0


# ------------------------------------------------- time limits and the queue


def test_a_poll_stopped_by_its_time_limit_says_so(tenant, quick, scripted_server):
    server = scripted_server(*HOSTILE_SCRIPTS["login refused"])
    mailbox = _mailbox_at(tenant, server.port)
    with mock.patch.object(imap, "imap_poll", side_effect=SoftTimeLimitExceeded()):
        _poll(tenant, mailbox)
    assert mailbox.imap_error.startswith("The poll took longer than 120 seconds and was stopped")


def test_the_poll_lock_outlives_the_hard_time_limit():
    task = tasks.poll_imap_mailbox
    assert task.soft_time_limit < task.time_limit < imap.poll_lock_seconds()


def test_polls_have_a_queue_that_a_plain_worker_also_takes():
    route = celery_app.amqp.router.route({}, "tickets.tasks.poll_imap_mailbox")
    assert route["queue"].name == "imap"
    # A worker started without -Q consumes every declared queue.
    assert {"celery", "intake", "imap"} <= set(celery_app.amqp.queues)
    assert (
        celery_app.amqp.router.route({}, "tickets.tasks.send_outbound_email")["queue"].name
        == "celery"
    )
