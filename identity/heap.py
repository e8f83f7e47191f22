"""Keep the garbage collector's full passes short in a long-running server.

CPython's full (generation 2) collection walks every tracked object. A server holds ~100,000 of
them from imports and start-up alone (modules, SQLAlchemy tables and compiled statements, gRPC
and protobuf descriptors), none of which will ever be garbage; walking them took 75–110 ms on the
2-core benchmark machine, a pause of the event loop that showed up as the introspection p99
during a login storm (docs/PERFORMANCE.md). `gc.freeze()` moves them to a generation the
collector never scans, so a full pass only walks what was allocated since.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then exempt every surviving object from future collections.

    Called by the server entry points (`identity serve`, `identity dev`, `edge-http serve`)
    once everything is built, never by library code: it is a decision for the whole process.
    What is alive then lives as long as the process. Objects
    freed later are still freed by reference counting; only cycles among them are not reclaimed,
    and start-up state does not form garbage cycles.
    """
    gc.collect()
    gc.freeze()
