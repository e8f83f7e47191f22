"""CPU per refresh rotation, of identity and of the edge, counted per call.

    python -m bench.refresh_cpu [--calls 3000] [--users 8] [--rounds 3]

Throughput ratios (bench.refresh) move with whatever else the two cores do; the CPU time a
process spends per call barely does, so this is the tool to compare two commits, even on a
machine that is not quiet: run it from a worktree of each, e.g.
`cd ../before && PYTHONPATH=$PWD python -m bench.refresh_cpu` (the stack's processes inherit
PYTHONPATH, so they run that worktree's code). Per round, `grpc` rotates chains straight against
identity and `edge` through `POST /auth/refresh`; both count identity's CPU, `edge` the edge's too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import aiohttp

from bench.refresh import EdgeChains, GrpcChains
from bench.stack import IdentityStack, register_and_login


async def _drive(rotate: Callable[[int], Awaitable[None]], calls: int, users: int) -> None:
    """`calls` rotations by `users` closed loops, each on its own chain."""
    started = 0

    async def loop(i: int) -> None:
        nonlocal started
        while started < calls:
            started += 1
            await rotate(i)

    await asyncio.gather(*(loop(i) for i in range(users)))


async def measure(calls: int, users: int, rounds: int) -> None:
    async with IdentityStack() as stack:
        channel, secret = stack.channels[0], stack.credentials["edge"]
        logins = await register_and_login(channel, secret, users, "grpc", 4)
        grpc_chains = GrpcChains(channel, secret, [t.refresh_token for t in logins])
        url = await stack.start_edge()
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=users + 4),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=30.0),
        ) as client:
            tag = os.urandom(3).hex()
            cookies = [
                await EdgeChains.login(client, url, f"cpu-{tag}-{i}@bench.invalid")
                for i in range(users)
            ]
            edge_chains = EdgeChains(client, url, cookies)
            edge = stack.edges[0]
            for _ in range(rounds):
                for name, rotate in (("grpc", grpc_chains.rotate), ("edge", edge_chains.rotate)):
                    await _drive(rotate, 300, users)  # warm-up
                    server, edge_cpu = stack.server_cpu_seconds(), edge.cpu_seconds()
                    started = time.perf_counter()
                    await _drive(rotate, calls, users)
                    elapsed = time.perf_counter() - started
                    per_call = 1000 / calls
                    identity_ms = (stack.server_cpu_seconds() - server) * per_call
                    edge_ms = (edge.cpu_seconds() - edge_cpu) * per_call
                    print(
                        f"{name:>4}: identity {identity_ms:.3f} ms/call,"
                        f" edge {edge_ms:.3f} ms/call, {calls / elapsed:.0f} rotations/s",
                        flush=True,
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(measure(args.calls, args.users, args.rounds))


if __name__ == "__main__":
    main()
