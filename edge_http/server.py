"""The edge on uvicorn: `build_server` returns a server the caller runs in its own event loop.

`identity dev` runs it next to the gRPC server and stops it with `server.should_exit = True`.
"""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp

from edge_http.app import create_app
from edge_http.config import EdgeSettings
from edge_http.identity_client import IdentityClient


def build_server(settings: EdgeSettings, app: ASGIApp | None = None) -> uvicorn.Server:
    if app is None:
        app = create_app(settings, IdentityClient(settings))
    config = uvicorn.Config(
        app,
        host=settings.listen_host,
        port=settings.listen_port,
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
        h11_max_incomplete_event_size=16 * 1024,
    )
    return uvicorn.Server(config)
