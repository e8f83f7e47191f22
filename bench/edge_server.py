"""The edge app served by one of the HTTP servers bench.edge_servers compares.

    python -m bench.edge_server {uvicorn-h11,hypercorn,granian}     (settings: EDGE_* variables)

(uvicorn with httptools and our limits is `edge-http serve` itself.) Each is given the nearest
equivalent of the edge's limits it has: head size, head read timeout, idle keep-alive 5 s.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from edge_http.app import create_app
from edge_http.config import EdgeSettings
from edge_http.identity_client import IdentityClient
from identity import runtime


def make_app() -> Any:
    settings = EdgeSettings.from_env(os.environ)
    return create_app(settings, IdentityClient(settings))


def main(kind: str) -> None:
    settings = EdgeSettings.from_env(os.environ)
    if kind == "uvicorn-h11":
        import uvicorn

        config = uvicorn.Config(
            make_app(),
            host=settings.listen_host,
            port=settings.listen_port,
            http="h11",
            h11_max_incomplete_event_size=settings.max_head_bytes,
            limit_concurrency=settings.max_connections,
            lifespan="on",
            proxy_headers=False,
            server_header=False,
            access_log=False,
            log_config=None,
            timeout_keep_alive=5,
        )
        runtime.run(uvicorn.Server(config).serve())
    elif kind == "hypercorn":
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [settings.listen]
        config.h11_max_incomplete_size = settings.max_head_bytes
        config.read_timeout = int(settings.head_timeout_seconds)
        config.keep_alive_timeout = 5
        config.accesslog = None
        runtime.run(serve(make_app(), config))  # type: ignore[arg-type]
    elif kind == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops
        from granian.http import HTTP1Settings

        Granian(
            "bench.edge_server:make_app",
            factory=True,
            address=settings.listen_host,
            port=settings.listen_port,
            interface=Interfaces.ASGI,
            workers=1,
            loop=Loops.uvloop,
            http1_settings=HTTP1Settings(
                header_read_timeout=int(settings.head_timeout_seconds * 1000),
                max_buffer_size=max(settings.max_head_bytes, 8192),
            ),
            log_level="warning",  # type: ignore[arg-type]
        ).serve()
    else:
        raise SystemExit(f"unknown server {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1])
