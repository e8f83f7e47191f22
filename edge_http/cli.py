"""`edge-http serve`: run the HTTP edge in front of an identity gRPC server."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from edge_http.config import LOG_LEVEL, WORKERS, EdgeSettings
from edge_http.server import build_server, serve_as_worker
from identity import runtime
from identity.logs import configure
from identity.runtime import freeze_startup_objects
from identity.workers import Workers, available_cores


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge-http", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the edge (configured by EDGE_* variables)")
    serve.add_argument("--workers", metavar="N", help=f"processes (overrides {WORKERS.name})")
    serve.add_argument("--worker-of", type=int, help=argparse.SUPPRESS)  # set by the parent
    args = parser.parse_args(argv)
    try:
        settings = EdgeSettings.from_env(os.environ)
        requested = (
            WORKERS.read(os.environ) if args.workers is None else WORKERS.parse(args.workers)
        )
        workers = available_cores() if requested is None else requested
        if workers > 1 and args.worker_of is None and settings.listen_port == 0:
            raise ValueError("EDGE_LISTEN: workers share one port, so it cannot be 0")
    except ValueError as exc:
        print(f"edge-http: {exc}", file=sys.stderr)
        return 2
    if settings.identity_credential is None:
        print(
            "edge-http: set EDGE_IDENTITY_CREDENTIAL or EDGE_IDENTITY_CREDENTIAL_FILE "
            "(create one with: identity credentials create --role edge --name edge)",
            file=sys.stderr,
        )
        return 2
    configure(LOG_LEVEL.value(os.environ))
    log = logging.getLogger(__name__)
    if args.worker_of is None and workers > 1:
        log.info("edge listening on http://%s with %d workers", settings.listen, workers)
        command = [sys.executable, "-m", "edge_http.cli", "serve"]
        return Workers(command, workers, os.environ).run()
    server = build_server(settings)
    freeze_startup_objects()
    if args.worker_of is not None:
        runtime.run(serve_as_worker(server, settings, args.worker_of))
        return 0
    log.info("edge listening on http://%s", settings.listen)
    runtime.run(server.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
