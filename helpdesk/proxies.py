"""What a reverse proxy in front of the app may tell it.

A client can send `X-Forwarded-Proto` and `X-Forwarded-For` itself, so the
app believes them only when `TRUSTED_PROXY_HOPS` says how many proxies of
ours stand in front of it: then the scheme comes from the header, and the
client's address is the one the outermost of our proxies saw (counted from
the right of `X-Forwarded-For`, where each of our proxies appended the
address that connected to it; anything further left a client could have
written).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    """The client's IP address: the peer that connected, or, behind
    `TRUSTED_PROXY_HOPS` proxies, the address the outermost one saw."""
    peer = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_HOPS
    if not hops:
        return peer
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    # The peer is our innermost proxy; each further hop of ours appended one
    # address, so the client is `hops` entries from the right.
    if len(forwarded) < hops:
        return peer  # not through all our proxies: trust only the peer
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
