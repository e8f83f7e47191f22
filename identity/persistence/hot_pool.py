"""The refresh rotation's own connections on PostgreSQL: asyncpg's pool, not SQLAlchemy's.

A rotation is two statements that asyncpg sends itself (prepared.py). Checking its connection
out of SQLAlchemy's pool and back took two greenlet switches and the pool's Python machinery
(events, the fairy, reset on return) per rotation; measured in the server (`python -m
bench.refresh_cpu`, 3 interleaved rounds of 5 000 rotations by 8 users), identity's CPU per
rotation fell from 1.15-1.21 to 1.08-1.11 ms with the connection taken from asyncpg's pool.

The checks are those of SQLAlchemy's pool (database.py), kept here for these connections:
- a connection the server closed is never handed out: asyncpg's pool opens another instead;
- one idle for longer than PING_IF_IDLE_FOR_S (a firewall may have cut it without a word) is
  pinged first, `SELECT 1` within PING_TIMEOUT_S; one that fails is terminated (no graceful
  close on a silent socket) and the next is tried;
- a statement that failed or was cancelled has terminated its connection (prepared.py), which
  the pool replaces on a later checkout.
asyncpg's reset query is not sent on return (it would be one more round trip per rotation): a
rotation leaves no session state behind, and asyncpg still rolls back a transaction left open.

Connections: at most HOT_POOL_SIZE per identity process, opened on first use, beside
SQLAlchemy's pool (pool_size 10 + max_overflow 10) and the one that LISTENs for revocations:
at most 31 per process in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg

from identity.persistence.database import POOL_TIMEOUT_S, due_for_ping, ping

HOT_POOL_SIZE = 10
# A checkout tries at most this many connections whose ping failed before giving up (the
# error then answers UNAVAILABLE); SQLAlchemy's pool makes three attempts too.
CHECKOUT_ATTEMPTS = 3
CLOSE_TIMEOUT_S = 5.0
# A ping that fails with one of these condemns the connection, not the call.
_CONNECTION_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class RotationConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg has no types
    """asyncpg's connection, knowing when it last went back to the pool. (The pool hands out a
    proxy of it, which forwards every attribute.)"""

    __slots__ = ("returned_at",)


class HotPool:
    """Connections for rotations, from one asyncpg pool opened on first use (inside the event
    loop that serves the calls). `opened` counts the connections it has opened."""

    def __init__(self, connect_kwargs: dict[str, Any], size: int = HOT_POOL_SIZE) -> None:
        self._kwargs = connect_kwargs
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._closed = False
        self.opened = 0

    async def acquire(self) -> RotationConnection:
        """A checked connection; give it back with release(). Raises the driver's error (or
        TimeoutError after POOL_TIMEOUT_S) when none can be had, InterfaceError once closed."""
        if self._closed:
            raise asyncpg.InterfaceError("the rotation's connection pool is closed")
        pool = self._pool or await self._open()
        failure: BaseException | None = None
        for _ in range(CHECKOUT_ATTEMPTS):
            connection = await pool.acquire(timeout=POOL_TIMEOUT_S)
            if not due_for_ping(connection.returned_at):
                return connection  # type: ignore[no-any-return]
            try:
                await ping(connection)
            except BaseException as error:
                # Failed, or the caller was cancelled mid-ping: either way the connection may
                # be mid-operation. Terminating it hands its place back to the pool at once
                # (no await, so a cancelled caller leaks nothing); the pool opens another.
                with contextlib.suppress(asyncpg.InterfaceError):  # already closed, handed back
                    connection.terminate()
                if not isinstance(error, _CONNECTION_ERRORS):
                    raise
                failure = error
                continue
            return connection  # type: ignore[no-any-return]
        assert failure is not None
        raise failure

    async def release(self, connection: RotationConnection) -> None:
        # The pool, even while close() waits for it: a rotation still running at shutdown gives
        # its connection back normally.
        pool = self._pool
        assert pool is not None, "release() of a connection this pool never gave"
        await pool.release(connection)

    async def close(self) -> None:
        """Close every connection (at shutdown, once no call can start a rotation); acquire()
        refuses from now on."""
        self._closed = True
        pool = self._pool
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            pool.terminate()

    def sizes(self) -> tuple[int, int]:
        """(connections open, of which idle in the pool); (0, 0) before first use."""
        if self._pool is None:
            return 0, 0
        return self._pool.get_size(), self._pool.get_idle_size()

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    min_size=0,
                    max_size=self._size,
                    connection_class=RotationConnection,
                    init=self._opened,
                    reset=_stamp_returned,
                    **self._kwargs,
                )
        return self._pool

    async def _opened(self, connection: RotationConnection) -> None:
        connection.returned_at = None  # fresh: no ping before its first use
        self.opened += 1


async def _stamp_returned(connection: RotationConnection) -> None:
    """The pool's reset on return: nothing to undo, only the time to note."""
    connection.returned_at = time.monotonic()
