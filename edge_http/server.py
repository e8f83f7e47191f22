"""The edge on uvicorn: `build_server` returns a server the caller runs in its own event loop.

`identity dev` runs it next to the gRPC server and stops it with `server.should_exit = True`;
both it and `edge-http serve` build the server here, so both enforce the same limits.
`edge-http serve --workers N` runs `serve_as_worker` in each of N processes (identity/workers.py):
each binds the port itself with SO_REUSEPORT, so the kernel spreads connections over them, and
each runs the same server, limits and protocol class included. (uvicorn's own multi-worker mode
would need an import string for the app, and shares one accepting socket instead.)
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from edge_http.app import create_app
from edge_http.config import EdgeSettings
from edge_http.http_limits import HttpLimits
from edge_http.identity_client import IdentityClient

log = logging.getLogger(__name__)


def build_server(settings: EdgeSettings, app: ASGIApp | None = None) -> uvicorn.Server:
    if app is None:
        app = create_app(settings, IdentityClient(settings))
    config = uvicorn.Config(
        app,
        host=settings.listen_host,
        port=settings.listen_port,
        **_http_options(settings),
        lifespan="on",
        loop="asyncio",
        # X-Forwarded-For is read by the app, and only from EDGE_TRUSTED_PROXIES.
        proxy_headers=False,
        server_header=False,
        # Our own access log (edge_http.access) leaves out query strings and addresses.
        access_log=False,
        log_config=None,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


async def serve_as_worker(server: uvicorn.Server, settings: EdgeSettings, parent: int) -> None:
    """Serve on the port shared with the other workers until SIGTERM (uvicorn's graceful
    shutdown), or until the parent process is gone."""
    from identity.workers import parent_gone

    async def exit_when_orphaned() -> None:
        await parent_gone(parent)
        server.should_exit = True

    listening = shared_port_socket(settings.listen_host, settings.listen_port)
    watch = asyncio.create_task(exit_when_orphaned())
    try:
        await server.serve(sockets=[listening])
    finally:
        watch.cancel()


def shared_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port with SO_REUSEPORT: every worker binds its own."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listening = socket.socket(family, kind, proto)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listening.bind(address)
    return listening


def _http_options(settings: EdgeSettings) -> dict[str, Any]:
    """httptools with our limits; without httptools, h11 with uvicorn's nearest options, and a
    warning of what that lacks."""
    try:
        from edge_http.limited_httptools import limited_protocol
    except ImportError:
        log.warning(
            "httptools is not installed (uvicorn[standard] brings it): the edge runs on h11, "
            "which caps request heads at EDGE_MAX_HEADER_BYTES but does not enforce "
            "EDGE_HEADER_TIMEOUT_SECONDS, and answers over EDGE_MAX_CONNECTIONS only once a "
            "head is complete"
        )
        return {
            "http": "h11",
            "h11_max_incomplete_event_size": settings.max_head_bytes,
            "limit_concurrency": settings.max_connections,
        }
    limits = HttpLimits(
        max_head_bytes=settings.max_head_bytes,
        head_timeout=settings.head_timeout_seconds,
        max_connections=settings.max_connections,
    )
    return {"http": limited_protocol(limits)}
