"""Which HTTP server the edge runs on: the limits each enforces, and its CPU per refresh.

    python -m bench.edge_servers [--repeats 3] [--duration 3] [--users 32] [--quick]

Contenders, each an edge process (the same app, the same EDGE_* settings, a 2 s head timeout)
in front of one `identity serve` on PostgreSQL:
- `uvicorn-httptools`: `edge-http serve` as shipped (uvicorn, httptools, edge_http's limits);
- `uvicorn-h11`, `hypercorn`, `granian`: bench/edge_server.py, each with its nearest options;
- `floor`: bench/edge_floor.py, not an edge: one raw ASGI function on uvicorn-httptools making the
  edge's one gRPC call, the least any edge on this server and gRPC client could cost (its users
  log in through the shipped edge; it is not probed for limits, having none).

First each is probed for the limits the edge must hold (EDGE_MAX_HEADER_BYTES, the head
timeout): a 1 MiB header that never ends must be answered and the connection closed, and a
connection that sends nothing must be closed, within 2 s of the timeout. Then refresh chains
rotate through each (closed loop, `users` at once; cookies kept by hand, aiohttp), the
contenders interleaved in a shuffled order per repeat. Reported per contender: refreshes/s,
p50/p99, and the edge's CPU per refresh (its processes' user + system time over the measured
window ÷ refreshes; granian's worker process counted too), with the ratio to uvicorn-httptools
within each repeat. identity and the edges share the last core; the generator has core 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench._common import SERVER_CPUS, fmt_num, fmt_ratio
from bench._common import summary as summarise
from bench.load import RunResult
from bench.procfs import proc_cpu_seconds
from bench.refresh import EdgeChains
from bench.runner import Contender, closed_loops, ratio, run_benchmark, shuffled, stats
from bench.stack import IdentityStack, Process, emails, free_port, wait_http

FLAGS: dict[str, Any] = {"repeats": 3, "duration": 3.0, "users": 32}
QUICK: dict[str, Any] = {"repeats": 1, "duration": 1.0, "users": 4}
SERVERS = ("uvicorn-httptools", "uvicorn-h11", "hypercorn", "granian", "floor")
BASELINE = "uvicorn-httptools"
FLOOR = "floor"
HEAD_TIMEOUT = 2.0


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and all its descendants (granian serves from a child)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += proc_cpu_seconds(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pending += [int(c) for c in children.read_text().split()]
    return total


async def start_edge(stack: IdentityStack, kind: str) -> tuple[Process, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "edge_http.cli", "serve"]
    if kind == FLOOR:
        argv = [sys.executable, "-m", "bench.edge_floor"]
    elif kind != BASELINE:
        argv = [sys.executable, "-m", "bench.edge_server", kind]
    proc = Process(
        f"edge-{kind}",
        argv,
        stack.env(
            EDGE_LISTEN=f"127.0.0.1:{port}",
            EDGE_IDENTITY_TARGET=stack.targets[0],
            EDGE_IDENTITY_CREDENTIAL=stack.credentials["edge"],
            EDGE_ALLOWED_ORIGINS=url,
            EDGE_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT),
            EDGE_LOG_LEVEL="WARNING",
        ),
        SERVER_CPUS,
    )
    await wait_http(url + "/healthz", proc)
    return proc, url


async def closed_within(url: str, first: bytes, flood: int, limit: float) -> bool:
    """Whether the server closes a connection that sends `first` then `flood` header bytes
    and never finishes the head, within `limit` seconds."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.monotonic()
    try:
        writer.write(first)
        with contextlib.suppress(ConnectionError):
            for _ in range(flood // 65536):
                writer.write(b"a" * 65536)
                await writer.drain()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(reader.read(), limit)
        return time.monotonic() - started < limit
    except TimeoutError:
        return False
    finally:
        writer.close()


async def probe_limits(url: str) -> dict[str, bool]:
    head = b"GET /healthz HTTP/1.1\r\nHost: edge\r\nCookie: "
    oversized, silent = await asyncio.gather(
        closed_within(url, head, 1 << 20, HEAD_TIMEOUT + 2),
        closed_within(url, b"", 0, HEAD_TIMEOUT + 2),
    )
    return {"oversized_head_refused": oversized, "silent_connection_closed": silent}


async def measure(args: argparse.Namespace, seed: int = 5) -> dict[str, Any]:
    rng = random.Random(seed)
    limits: dict[str, dict[str, bool]] = {}
    contenders: dict[str, Contender] = {}
    edges: list[Process] = []
    sessions: list[aiohttp.ClientSession] = []
    urls: dict[str, str] = {}
    async with IdentityStack() as stack:
        try:
            for kind in SERVERS:
                proc, url = await start_edge(stack, kind)
                edges.append(proc)
                urls[kind] = url
                limits[kind] = {} if kind == FLOOR else await probe_limits(url)
                client = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=args.users + 4),
                    cookie_jar=aiohttp.DummyCookieJar(),
                    timeout=aiohttp.ClientTimeout(total=30.0),
                )
                sessions.append(client)
                login_at = urls[BASELINE] if kind == FLOOR else url
                cookies = [
                    await EdgeChains.login(client, login_at, email)
                    for email in emails(kind, args.users)
                ]
                chains = EdgeChains(client, url, cookies)
                contenders[kind] = (chains.rotate, lambda pid=proc.pid: tree_cpu_seconds(pid))
                print(f"  {kind}: limits {limits[kind]}", flush=True)
            runs = await closed_loops(
                contenders, args.users, args.duration, args.repeats, shuffled(rng, contenders)
            )
        finally:
            for client in sessions:
                await client.close()
            for proc in edges:
                proc.stop()
    results: dict[str, Any] = {}
    for kind, kind_runs in runs.items():
        summary = stats(kind_runs, "throughput", "p50_ms", "p99_ms")
        results[kind] = {
            **summary,
            "edge_cpu_ms_per_refresh": summarise([cpu_ms(r) for r in kind_runs]),
            "edge_cpu_vs_baseline": summarise(
                [cpu_ms(a) / cpu_ms(b) for a, b in zip(kind_runs, runs[BASELINE], strict=True)]
            ),
            "errors": sum(r.errors for r in kind_runs),
            "limits": limits[kind],
            "throughput_vs_baseline": ratio(kind_runs, runs[BASELINE]),
        }
    return {
        "settings": {
            "repeats": args.repeats,
            "duration_s": args.duration,
            "users": args.users,
            "head_timeout_s": HEAD_TIMEOUT,
        },
        "results": results,
    }


def cpu_ms(run: RunResult) -> float:
    """The edge's CPU per refresh, ms: `server_cpu` is cores busy over the measured window."""
    return run.server_cpu / run.throughput * 1e3 if run.throughput else float("nan")


def report(data: dict[str, Any]) -> str:
    lines = []
    for kind, r in data["results"].items():
        held = ", ".join(k for k, v in r["limits"].items() if v) or "none"
        lines.append(
            f"{kind}: {fmt_num(r['throughput'])}/s (x{fmt_ratio(r['throughput_vs_baseline'])}), "
            f"edge CPU {fmt_num(r['edge_cpu_ms_per_refresh'], 3)} ms/refresh "
            f"(x{fmt_ratio(r['edge_cpu_vs_baseline'])}), p99 {fmt_num(r['p99_ms'], 1)} ms, "
            f"errors {r['errors']}; limits held: {held}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_benchmark("edge_servers", __doc__, argv, measure, report, QUICK, **FLAGS)


if __name__ == "__main__":
    main()
