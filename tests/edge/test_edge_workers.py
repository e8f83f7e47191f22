"""Issue 19: `edge-http serve --workers N`, N processes on one port, each with the edge's limits.

A real `edge-http serve --workers 2` in front of a real identity; which worker a connection
landed on is read from /proc (the worker holding the server end of it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.faults.processes import accepted_connections, child_pids, free_port

pytestmark = pytest.mark.slow

_HEAD_CAP = 4096  # EDGE_MAX_HEADER_BYTES below


async def connection_per_worker(
    port: int, pids: list[int]
) -> dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """One open keep-alive connection to each worker, found by opening new ones until the
    kernel has handed one to every worker."""
    found: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
    deadline = time.monotonic() + 30
    while len(found) < len(pids):
        assert time.monotonic() < deadline, f"connections reached only {sorted(found)} of {pids}"
        before = accepted_connections(port, pids)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(50):  # the accept happens in the worker, a moment later
            after = accepted_connections(port, pids)
            owners = [pid for pid in pids if after[pid] - before[pid]]
            if owners:
                break
            await asyncio.sleep(0.02)
        if len(owners) == 1 and owners[0] not in found:
            found[owners[0]] = (reader, writer)
        else:
            writer.close()
    return found


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> bytes:
    writer.write(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await asyncio.wait_for(reader.readexactly(length), 10)
    return head.split(b"\r\n", 1)[0]


async def test_two_edge_workers_share_the_port_keep_the_limits_and_drain_on_sigterm(
    edge_identity, tmp_path
):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env.update(
        EDGE_LISTEN=f"127.0.0.1:{port}",
        EDGE_IDENTITY_TARGET=edge_identity.target,
        EDGE_IDENTITY_CREDENTIAL=edge_identity.credentials["edge"],
        EDGE_MAX_HEADER_BYTES=str(_HEAD_CAP),
    )
    log = tmp_path / "edge.log"
    with log.open("wb") as stderr:
        edge = subprocess.Popen(
            [sys.executable, "-m", "edge_http.cli", "serve", "--workers", "2"],
            env=env,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 30
        while len(pids := child_pids(edge.pid)) < 2 or not await _ready(port):
            assert edge.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the edge workers did not start"
            await asyncio.sleep(0.2)
        connections = await connection_per_worker(port, pids)
        assert len(connections) == 2, "two distinct processes answer on the one port"

        for reader, writer in connections.values():
            # The edge's own protocol class, in every worker: an oversized head is 431.
            assert await _get(reader, writer, "/.well-known/jwks.json") == b"HTTP/1.1 200 OK"
            writer.write(b"GET /healthz HTTP/1.1\r\nx-big: " + b"a" * (2 * _HEAD_CAP))
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
            writer.close()

        # /metrics counts what every worker served, whichever worker answers it.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            metrics = (await client.get("/metrics")).text
        served = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("edge_http_requests_total{")
            and 'route="/.well-known/jwks.json"' in line
        ]
        assert sum(served) >= 2, metrics

        edge.send_signal(signal.SIGTERM)
        assert edge.wait(timeout=30) == 0, log.read_text()[-3000:]
        assert not [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
    finally:
        if edge.poll() is None:
            edge.kill()
            edge.wait()
        for pid in child_pids(edge.pid):
            os.kill(pid, signal.SIGKILL)


async def _ready(port: int) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False
