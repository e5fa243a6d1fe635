"""Signing and posting one webhook body.

The connection is made by `helpdesk.netguard.connect`: the target's name is
resolved at send time, refused if any address is loopback, private,
link-local or otherwise not public (unless ALLOW_PRIVATE_HOSTS), and the
socket connects to exactly the address that was checked. http.client then
speaks HTTP over that socket, so a DNS answer that changes between the check
and the connection (rebinding) cannot send the post elsewhere. TLS is
checked against the host name in the URL. Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import secrets
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from helpdesk import netguard

SIGNATURE_HEADER = "X-Helpdesk-Signature"
USER_AGENT = "Helpdesk-Webhooks/1"
# What of a receiver's answer is kept in the log when it refused the post.
RESPONSE_EXCERPT_BYTES = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 of "<timestamp>.<body>" with the webhook's secret, in hex."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def signature_verify(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = 300
) -> bool:
    """What a receiver does: the header's signature matches the body and its
    timestamp is within `tolerance` seconds (replays of old posts fail)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, timestamp, body))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = netguard.connect(self.host, self.port, timeout=self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        sock = netguard.connect(self.host, self.port, timeout=self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    duration_ms: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class BadTarget(ValueError):
    """A URL that cannot be a webhook target; str() is safe to show an admin."""


def target_parts(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of a webhook URL, or BadTarget."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadTarget("That is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise BadTarget("The URL must start with https:// (or http://).")
    if not parts.hostname:
        raise BadTarget("The URL names no host.")
    if parts.username or parts.password:
        raise BadTarget("Put no user name or password in the URL; the secret signs each post.")
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def post(
    *, url: str, body: str, secret: str, headers: dict[str, str], timeout: float
) -> PostResult:
    """POST `body` (JSON) to `url`, signed; never raises for what the network
    or the receiver does: the result says what happened."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        scheme, host, port, path = target_parts(url)
    except BadTarget as exc:
        return PostResult(None, 0, str(exc))
    data = body.encode()
    timestamp = int(time.time())
    all_headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(secret, timestamp, data),
        **headers,
    }
    if scheme == "https":
        connection = _PinnedHTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = _PinnedHTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("POST", path, body=data, headers=all_headers)
        response = connection.getresponse()
        excerpt = response.read(RESPONSE_EXCERPT_BYTES)
    except netguard.HostRefused as exc:
        return PostResult(None, took(), f"Not sent: {exc}")
    except ssl.SSLError as exc:
        return PostResult(None, took(), f"TLS failed: {exc.reason or exc}")
    except TimeoutError:
        return PostResult(None, took(), f"No answer within {timeout:g} seconds.")
    except (OSError, http.client.HTTPException) as exc:
        return PostResult(None, took(), f"Could not post: {type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
    if 200 <= response.status < 300:
        return PostResult(response.status, took())
    text = excerpt.decode("utf-8", "replace").strip()
    error = f"The receiver answered {response.status} {response.reason}"
    return PostResult(response.status, took(), f"{error}: {text}" if text else error + ".")
