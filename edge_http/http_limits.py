"""Limits on what a client may hold open: a bounded request head, a deadline for it, a cap on
connections. edge_http/limited_httptools.py enforces them in the parser that actually runs.

uvicorn enforces a head-size cap only in its pure-Python h11 protocol, and no head deadline at
all; with httptools (the faster parser, installed with uvicorn[standard]) a client could send an
endless header or trickle one in forever, each holding memory and a file descriptor. Our
subclass of its protocol keeps httptools' speed and adds what a browser-facing server must have:

- the request line and headers together at most `max_head_bytes`: beyond it, 431 and the
  connection closed, counted as the bytes arrive, so an unfinished head is refused before it is
  buffered whole;
- the head complete within `head_timeout` seconds of the connection opening or of the request's
  first byte: otherwise 408 and closed (a silent connection too); idle keep-alive stays bounded
  by uvicorn's own `timeout_keep_alive`;
- at most `max_connections` open at once: the next is answered 503 with `Retry-After` and closed,
  so the process keeps file descriptors for the clients it serves.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

DEFAULT_MAX_HEAD_BYTES = 16 * 1024
DEFAULT_HEAD_TIMEOUT = 10.0
# File descriptors kept back from the connection cap: the listening socket, gRPC channels, the
# database and log files of `identity dev`, and the sockets the refused clients still hold.
FD_HEADROOM = 128


def default_max_connections() -> int:
    """Three quarters of the soft file-descriptor limit, never within FD_HEADROOM of it."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, min(soft * 3 // 4, soft - FD_HEADROOM))


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES
    head_timeout: float = DEFAULT_HEAD_TIMEOUT
    max_connections: int = 1000
