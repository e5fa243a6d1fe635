"""Outgoing connections to hosts that a tenant admin chose (an IMAP server,
later webhooks): resolve the name, refuse it if any address it resolves to is
not on the public internet, and connect to exactly the addresses that were
checked. Checking the name and letting the socket library resolve it again
would let a DNS answer that changes in between (rebinding) reach
127.0.0.1 or the cloud metadata service at 169.254.169.254.

`ALLOW_PRIVATE_HOSTS` lifts the address check for installs whose mail server
sits on their own network; names are still resolved once, with a timeout.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

from django.conf import settings

# Name look-ups made while an admin saves a form: long enough for a slow
# resolver, short enough that the page does not hang.
LOOKUP_TIMEOUT_SECONDS = 10

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# NAT64 (RFC 6052): the last 32 bits are the IPv4 address the gateway reaches.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class HostRefused(Exception):
    """A host this installation will not connect to; str() is safe to show an admin."""


class HostNotFound(HostRefused):
    pass


class HostLookupFailed(HostRefused):
    pass


class PrivateHostRefused(HostRefused):
    pass


def is_public_address(address: str | IPAddress) -> bool:
    """True for an address on the public internet: not loopback, private,
    link-local, CGNAT, unspecified, multicast, reserved or documentation,
    in IPv4 or IPv6, including IPv4 addresses carried inside IPv6 ones."""
    ip = ipaddress.ip_address(address.split("%")[0] if isinstance(address, str) else address)
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            # A mapped address is the IPv4 host itself; 6to4 and NAT64 are
            # routed to it by a gateway. Either way the IPv4 host decides.
            return is_public_address(embedded)
        if ip.is_site_local:
            return False
    # is_global alone lets multicast through, and in Python 3.11 some
    # special ranges are neither private nor global: check each property.
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
    )


def _lookup(host: str, port: int) -> list[tuple]:
    """The system resolver (hosts file, then DNS); tests replace it."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def resolve(host: str, port: int, *, timeout: float = LOOKUP_TIMEOUT_SECONDS) -> list[tuple]:
    """The addresses `host` resolves to, as (family, type, proto, sockaddr),
    each allowed by the installation; raises HostRefused otherwise.

    Every address must pass, not one: a name that resolves to a public and a
    private address would otherwise reach the private one on a retry.
    """
    infos = _lookup_with_timeout(host, port, timeout)
    if not infos:
        raise HostNotFound("That host name does not resolve to any address; check the spelling.")
    if not settings.ALLOW_PRIVATE_HOSTS:
        for info in infos:
            if not is_public_address(info[4][0]):
                raise PrivateHostRefused(
                    "That host is on a private network; this installation does not allow it."
                )
    return [(family, kind, proto, sockaddr) for family, kind, proto, _, sockaddr in infos]


def _lookup_with_timeout(host: str, port: int, timeout: float) -> list[tuple]:
    # getaddrinfo() takes no timeout and a dead resolver can block it for
    # tens of seconds, so it runs in a thread we stop waiting for. A thread
    # left behind ends when the resolver gives up; it holds no locks of ours.
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["infos"] = _lookup(host, port)
        except (OSError, ValueError) as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="netguard-lookup", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise HostLookupFailed(f"Looking up the host name took longer than {timeout:g} seconds.")
    error = outcome.get("error")
    if isinstance(error, socket.gaierror) and error.errno == socket.EAI_AGAIN:
        raise HostLookupFailed("The host name could not be looked up just now; try again.")
    if error is not None:
        # Not found, or not a host name at all (an empty or 64-letter label).
        raise HostNotFound("That host name does not resolve to any address; check the spelling.")
    return outcome["infos"]


def connect(host: str, port: int, *, timeout: float) -> socket.socket:
    """A TCP connection to `host`, made to an address `resolve` allowed.

    `timeout` bounds the look-up, the connection attempts together, and then
    every read and write on the returned socket. TLS goes on top with
    `server_hostname=host`, so the certificate is still checked against the
    name the admin gave.
    """
    addresses = resolve(host, port, timeout=timeout)
    deadline = time.monotonic() + timeout
    last_error: OSError = TimeoutError("timed out")
    for family, kind, proto, sockaddr in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        sock.settimeout(timeout)
        return sock
    raise last_error
