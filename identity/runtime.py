"""How the server processes run: on uvloop, and with the start-up heap out of the collector's way.

uvloop (libuv under asyncio's API; already installed with uvicorn[standard]) runs the same
coroutines with less interpreter work per callback and per socket event: in the A/B of
bench/experiments.py (two identity processes on one database) it carried 1.17× the Introspect
throughput (0.98–1.27 over four repeats) at the same p99. gRPC's asyncio server, asyncpg,
aiosqlite, uvicorn and the thread-pool calls all run on it unchanged.

CPython's full (generation 2) collection walks every tracked object. A server holds ~100,000 of
them from imports and start-up alone (modules, SQLAlchemy tables and compiled statements, gRPC
and protobuf descriptors), none of which will ever be garbage; walking them took 75–110 ms on the
2-core benchmark machine, a pause of the event loop that showed up as the introspection p99
during a login storm (docs/PERFORMANCE.md). `gc.freeze()` moves them to a generation the
collector never scans, so a full pass only walks what was allocated since.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a uvloop event loop (asyncio's own where uvloop is not installed)."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not exist
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def freeze_startup_objects() -> None:
    """Collect once, then exempt every surviving object from future collections.

    Called by the server entry points (`identity serve`, `identity dev`, `edge-http serve`)
    once everything is built, never by library code: it is a decision for the whole process.
    What is alive then lives as long as the process. Objects freed later are still freed by
    reference counting; only cycles among them are not reclaimed, and start-up state does not
    form garbage cycles.
    """
    gc.collect()
    gc.freeze()


def catch_stop_signals() -> asyncio.Event:
    """From now on SIGINT and SIGTERM set the returned event instead of killing the process.
    Called before a server starts listening: a signal that comes while it finishes starting up
    (the port is open as soon as it binds) must still stop it cleanly, not kill it."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    return stopping


async def until_signal(
    stop: Callable[[], Awaitable[None]],
    wait: Awaitable[None] | None = None,
    stopping: asyncio.Event | None = None,
) -> None:
    """Wait for SIGINT or SIGTERM (caught since `catch_stop_signals` made `stopping`, or from
    now) or for `wait` to finish, then run `stop`."""
    stopping = stopping or catch_stop_signals()
    signalled = asyncio.ensure_future(stopping.wait())
    waiters: list[asyncio.Future[Any]] = [signalled]
    if wait is not None:
        waiters.append(asyncio.ensure_future(wait))
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    # Only our own signal waiter is cancelled: the awaited task (the edge) must shut down
    # through `stop`, not be cancelled under it.
    signalled.cancel()
    await stop()
