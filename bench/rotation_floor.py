"""The floor of a rotation server on identity's stack: gRPC in, the two statements, an answer out.

    python -m bench.rotation_floor --port 50101 --dsn postgresql://… --answer-bytes 700

A generic grpc.aio handler on uvloop (as identity runs: identity/runtime.py) whose request is a
refresh token's digest: it sends the rotation's two statements (identity's own prebuilt
`ROTATION_STATEMENTS`, each in autocommit, as identity sends them) on a connection from an
asyncpg pool, and answers the successor's digest padded to the size of identity's
TokenResponse. No authentication, rules, token signing, secrets, metrics or error handling:
never serve it. bench.refresh runs it pinned where identity is, so identity's CPU per rotation
reads as this floor plus identity's own work, and `floor ÷ ceiling` bounds what any Python gRPC
rotation server on this stack could turn PostgreSQL's capacity into.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import grpc.aio

from bench._common import SERVER_CPUS
from bench.internals import ROTATION_STATEMENTS
from bench.stack import Process, free_port
from identity.runtime import freeze_startup_objects, run

FLOOR_METHOD = "/bench.RotationFloor/Rotate"
POOL_SIZE = 20  # identity's own pool limit (pool_size 10 + max_overflow 10)
CONSUME_AND_READ, RECORD_ROTATION = ROTATION_STATEMENTS


async def no_reset(connection: asyncpg.Connection) -> None:
    """asyncpg's default reset on release is one more round trip per rotation; identity's
    rotation pool skips it too (identity/persistence/hot_pool.py), having nothing to undo."""


async def send_rotation(connection: asyncpg.Connection, digest: bytes) -> bytes | None:
    """One rotation's two statements, as identity sends them (random successor digest: the HMAC
    derivation and the encryption are identity's CPU, not PostgreSQL's); the successor's
    digest, or None when the token was not this call's to consume. bench.refresh's ceiling
    sends its rotations through this too."""
    now = datetime.now(UTC)
    binds = {"b_now": now, "b_used_ip": "127.0.0.1", "b_used_user_agent": "bench"}
    facts = await connection.fetchrow(
        CONSUME_AND_READ.sql, *CONSUME_AND_READ.args({**binds, "b_digest": digest})
    )
    if facts is None or not facts["won"]:
        return None
    successor = hashlib.sha256(os.urandom(32)).digest()
    await connection.execute(
        RECORD_ROTATION.sql,
        *RECORD_ROTATION.args(
            {
                "b_now": now,
                "b_idle_expires_at": now + timedelta(days=14),
                "b_generation": facts["generation"] + 1,
                "b_digest": successor,
                "b_session_id": facts["session_id"],
            }
        ),
    )
    return successor


async def serve_floor(port: int, dsn: str, answer_bytes: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=POOL_SIZE, reset=no_reset)
    padding = b"\0" * max(0, answer_bytes - 32)

    async def rotate(digest: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        async with pool.acquire() as connection:
            successor = await send_rotation(connection, digest)
        if successor is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "chain broken")
        return successor + padding

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.RotationFloor", {"Rotate": grpc.unary_unary_rpc_method_handler(rotate)}
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    freeze_startup_objects()
    await server.wait_for_termination()


async def start_floor(
    dsn: str, answer_bytes: int, cpus: Sequence[int] = SERVER_CPUS
) -> tuple[Process, grpc.aio.Channel]:
    """The floor server in its own process pinned to `cpus`, once it listens, and a channel."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.rotation_floor", "--port", str(port), "--dsn", dsn]
    argv += ["--answer-bytes", str(answer_bytes)]
    proc = Process("rotation-floor", argv, dict(os.environ), cpus)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    for _ in range(100):
        proc.check()
        try:
            await asyncio.wait_for(channel.channel_ready(), 1.0)
            return proc, channel
        except TimeoutError:
            pass
    raise TimeoutError("rotation floor server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--answer-bytes", type=int, default=700)
    args = parser.parse_args()
    try:
        run(serve_floor(args.port, args.dsn, args.answer_bytes))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
