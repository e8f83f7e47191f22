"""The baseline server: a bare grpc.aio handler answering its request bytes, no interceptor.

It runs as identity does (identity/runtime.py: uvloop, start-up heap frozen), so the floor it
sets is the same server machinery on the same event loop, with none of identity's work. Until
2026-12-07 it ran on asyncio's own loop: 0.19 ms of server CPU per call against 0.15 on uvloop
(8 closed loops x 10 000 calls, server pinned to one core, this file's handler either way), so
the floor was ~25 % costlier than identity's own loop, and the ratios to it read high.

python -m bench.echo --port 50100      # what bench.introspect starts beside identity
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

import grpc
import grpc.aio

from bench._common import SERVER_CPUS
from bench.stack import Process, free_port
from identity.runtime import freeze_startup_objects, run

ECHO_METHOD = "/bench.Echo/Echo"


async def _echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return request


async def serve_echo(port: int) -> None:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    freeze_startup_objects()
    await server.wait_for_termination()


async def start_echo(cpus: Sequence[int] = SERVER_CPUS) -> tuple[Process, grpc.aio.Channel]:
    """The echo server in its own process pinned to `cpus`, once it answers, and a channel."""
    port = free_port()
    proc = Process(
        "echo", [sys.executable, "-m", "bench.echo", "--port", str(port)], dict(os.environ), cpus
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    call = channel.unary_unary(ECHO_METHOD)
    for _ in range(100):
        proc.check()
        try:
            await call(b"ping", timeout=1.0)
            return proc, channel
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.2)
    raise TimeoutError("echo server did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        run(serve_echo(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
