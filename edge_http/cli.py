"""`edge-http serve`: run the HTTP edge in front of an identity gRPC server."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from edge_http.config import LOG_LEVEL, EdgeSettings
from edge_http.server import build_server
from identity import runtime
from identity.logs import configure
from identity.runtime import freeze_startup_objects


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge-http", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the edge (configured by EDGE_* variables)")
    parser.parse_args(argv)
    try:
        settings = EdgeSettings.from_env(os.environ)
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
    server = build_server(settings)
    freeze_startup_objects()
    logging.getLogger(__name__).info("edge listening on http://%s", settings.listen)
    runtime.run(server.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
