"""Who is calling: the end user's IP (X-Forwarded-For only from trusted proxies) and user agent."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from identity.config_schema import IPNetwork
from identity.wire import MAX_CLIENT_USER_AGENT

# gRPC metadata values must be printable ASCII; anything else would fail the call client-side.
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_MAX_FORWARDED_HOPS = 32


@dataclass(frozen=True)
class ClientContext:
    ip: str
    user_agent: str


_MAX_ADDRESS_TEXT = 64  # "[IPv6 with a zone]:port" fits; anything longer is no address


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if len(text) > _MAX_ADDRESS_TEXT:  # kept out of the memo below: its keys stay small
        return None
    return _parse_address(text)


@functools.lru_cache(maxsize=1024)
def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Memoised: the same few peers and proxies come again and again, and ipaddress parses in
    # Python (a request parses its peer twice: for its address and for is_https).
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:4711"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:4711"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[IPNetwork]
) -> bool:
    return any(ip.version == net.version and ip in net for net in proxies)


def client_ip(peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[IPNetwork]) -> str:
    """The first address, walking X-Forwarded-For right to left, that is not a trusted proxy.

    The header is only read when the direct peer is a trusted proxy; a client can write anything
    into it, so only the hops appended by our own proxies mean something.
    """
    current = _parse_ip(peer or "")
    if current is None:
        return ""
    if not proxies or not _trusted(current, proxies):
        return str(current)
    hops = [h for line in forwarded_for for h in line.split(",") if h.strip()]
    for hop in reversed(hops[-_MAX_FORWARDED_HOPS:]):
        address = _parse_ip(hop)
        if address is None:
            break  # garbage from before our proxies: stop at the last good hop
        current = address
        if not _trusted(current, proxies):
            break
    return str(current)


def clean_user_agent(value: str) -> str:
    return _NOT_PRINTABLE.sub("?", value)[:MAX_CLIENT_USER_AGENT]


def client_context(conn: HTTPConnection, proxies: Sequence[IPNetwork]) -> ClientContext:
    peer = conn.client.host if conn.client else None
    forwarded = conn.headers.getlist("x-forwarded-for")
    return ClientContext(
        ip=client_ip(peer, forwarded, proxies),
        user_agent=clean_user_agent(conn.headers.get("user-agent", "")),
    )


def is_https(conn: HTTPConnection, proxies: Sequence[IPNetwork]) -> bool:
    """Served over TLS, directly or (as a trusted proxy says) in front of us."""
    if conn.scope.get("scheme") == "https":  # what conn.url.scheme says, without building a URL
        return True
    peer = _parse_ip(conn.client.host) if conn.client else None
    if peer is None or not proxies or not _trusted(peer, proxies):
        return False
    proto = conn.headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
    return proto == "https"
