"""Hosts that tenant admins enter are resolved once, refused when any address
is not on the public internet, and connected to at the address checked."""

import socket
import threading
import time
from unittest import mock

import pytest

from helpdesk import netguard

PRIVATE = "That host is on a private network; this installation does not allow it."


@pytest.fixture(autouse=True)
def _private_hosts_refused(settings):
    settings.ALLOW_PRIVATE_HOSTS = False


def _resolving_to(*answers):
    """A resolver whose n-th look-up answers answers[n] (the last one repeats);
    records each host looked up."""
    calls = []

    def lookup(host, port):
        addresses = answers[min(len(calls), len(answers) - 1)]
        calls.append(host)
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port) if ":" not in address else (address, port, 0, 0),
            )
            for address in addresses
        ]

    return mock.patch.object(netguard, "_lookup", lookup), calls


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.1",
        "127.1",  # the same address, as inet_aton spells it
        "2130706433",
        "0x7f.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.0.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "198.18.0.1",  # benchmarking
        "192.0.2.10",  # documentation
        "224.0.0.251",  # multicast
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd12:3456::1",
        "fec0::1",  # the old site-local range
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 carrying 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 to 169.254.169.254
    ],
)
def test_loopback_private_and_special_addresses_are_refused(host):
    with pytest.raises(netguard.PrivateHostRefused, match=PRIVATE):
        netguard.resolve(host, 993)


@pytest.mark.parametrize(
    "host", ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_pass(host):
    assert netguard.resolve(host, 993)[0][3][1] == 993


def test_a_name_with_one_private_address_among_public_ones_is_refused():
    patch, _ = _resolving_to(["93.184.216.34", "10.1.2.3"])
    with patch, pytest.raises(netguard.PrivateHostRefused):
        netguard.resolve("mail.example.com", 993)


def test_the_setting_allows_private_hosts(settings):
    settings.ALLOW_PRIVATE_HOSTS = True
    for host in ("localhost", "10.0.0.5", "::1", "169.254.169.254"):
        assert netguard.resolve(host, 143)


@pytest.mark.parametrize("host", ["a..b", "x" * 300, "exa mple.com", "host\x00.com", "-"])
def test_something_that_is_not_a_host_name_is_not_found(host):
    with pytest.raises(netguard.HostNotFound, match="does not resolve to any address"):
        netguard.resolve(host, 993)


def test_a_temporary_dns_failure_says_so():
    def failing(host, port):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with mock.patch.object(netguard, "_lookup", failing):
        with pytest.raises(netguard.HostLookupFailed, match="try again"):
            netguard.resolve("mail.example.com", 993)


def test_a_resolver_that_hangs_is_given_up_on():
    def hanging(host, port):
        time.sleep(3)
        return []

    started = time.monotonic()
    with mock.patch.object(netguard, "_lookup", hanging):
        with pytest.raises(netguard.HostLookupFailed, match="longer than 0.3 seconds"):
            netguard.resolve("mail.example.com", 993, timeout=0.3)
    assert time.monotonic() - started < 2


class _Listener:
    """Counts the connections made to one loopback address."""

    def __init__(self, address: str, port: int = 0):
        self.sock = socket.create_server((address, port))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_connect_goes_to_the_address_it_checked_not_a_later_answer(settings):
    # DNS rebinding: the name answers one address when checked and another
    # a moment later. The connection must go where the check looked.
    settings.ALLOW_PRIVATE_HOSTS = True  # both stand-ins are loopback addresses
    checked = _Listener("127.0.0.2")
    other = _Listener("127.0.0.1", checked.port)
    patch, calls = _resolving_to(["127.0.0.2"], ["127.0.0.1"])
    try:
        with patch:
            sock = netguard.connect("mail.example.com", checked.port, timeout=2)
        sock.close()
        time.sleep(0.1)
        assert calls == ["mail.example.com"]  # looked up once
        assert len(checked.accepted) == 1 and other.accepted == []
    finally:
        checked.close()
        other.close()


def test_connect_refuses_before_any_packet_is_sent():
    listener = _Listener("127.0.0.1")
    patch, _ = _resolving_to(["127.0.0.1"])
    try:
        with patch, pytest.raises(netguard.PrivateHostRefused):
            netguard.connect("mail.example.com", listener.port, timeout=2)
        time.sleep(0.1)
        assert listener.accepted == []
    finally:
        listener.close()


def test_connect_tries_the_next_address_when_one_refuses(settings):
    settings.ALLOW_PRIVATE_HOSTS = True
    listener = _Listener("127.0.0.1")
    # Nothing listens on 127.0.0.3: that one refuses.
    patch, _ = _resolving_to(["127.0.0.3", "127.0.0.1"])
    try:
        with patch:
            sock = netguard.connect("mail.example.com", listener.port, timeout=2)
        assert sock.getpeername()[0] == "127.0.0.1"
        assert sock.gettimeout() == 2  # reads and writes keep the timeout
        sock.close()
    finally:
        listener.close()
