"""Refresh-token rotation: HTTP edge → gRPC → PostgreSQL, gRPC alone, and the PostgreSQL ceiling.

    python -m bench.refresh [--repeats 3] [--duration 3] [--users 8,32,64] [--no-edge] [--quick]

Every virtual user owns one session and rotates its own chain, one rotation after another
(closed loop, 0.5 s warm-up): it presents its current refresh token and keeps the successor.

- `grpc`: `IdentityService.Refresh` with an `edge` credential, straight to identity.
- `edge`: `POST /auth/refresh` on `edge-http serve` with `X-Requested-With: bench` and the
  `__Secure-refresh_token` cookie (kept by hand: no client sends a Secure cookie over
  http://127.0.0.1), after a `POST /auth/login` through the edge. Client: aiohttp (httpx's
  per-request CPU made the load generator the limit at 32 and 64 users).
- `pg`: the ceiling. A bare asyncpg loop sending, per rotation, each in autocommit, the same
  two statements identity sends (compiled from identity's own prebuilt statements,
  `identity.persistence.sessions.ROTATION_STATEMENTS`): the conditional UPDATE … RETURNING as a
  CTE of the SELECT of the facts (with the session's secret), then the UPDATE of the session with
  the successor's INSERT as its CTE. Pool: min(users, 20) connections, identity's own pool limit
  (pool_size 10 + max_overflow 10).
- `echo`: the floor of any grpc.aio server: bench/echo.py's handler, which answers its request
  bytes and does nothing else, called with a RefreshRequest's bytes and the same metadata, its
  process pinned where identity is. `echo ÷ pg` is the most of the ceiling a Python gRPC server
  on one core reaches before doing any work.
- `floor`: the floor of a rotation server on identity's stack: bench/rotation_floor.py, a
  grpc.aio handler on uvloop that sends the same two statements from an asyncpg pool and answers
  a TokenResponse's worth of bytes (no authentication, rules, signing or metrics), pinned where
  identity is. identity's CPU per rotation reads as this floor plus identity's own work.

identity, the edge and the echo server are pinned to the last core, the load generator (and the
asyncpg loop) to core 0; PostgreSQL is not pinned. Per repeat the four run back to back in a
shuffled order; ratios (grpc/pg, edge/pg, edge/grpc, echo/pg, grpc/echo, floor/pg, grpc/floor)
are within a repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
from typing import Any

import aiohttp
import asyncpg
import grpc.aio
import httpx

from bench._common import CLIENT_CPUS, SERVER_CPUS, fmt_num, fmt_ratio
from bench.echo import ECHO_METHOD, start_echo
from bench.internals import ROTATION_STATEMENTS, refresh_token_digest
from bench.load import RunResult
from bench.rotation_floor import FLOOR_METHOD, no_reset, send_rotation, start_floor
from bench.runner import (
    Contender,
    closed_loops,
    error_kinds,
    ints,
    ratio,
    run_benchmark,
    shuffled,
    stats,
)
from bench.stack import PASSWORD, IdentityStack, emails, metadata, register_and_login
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc

# The command line: --name value for each flag; --quick (a smoke run) sets QUICK instead.
FLAGS: dict[str, Any] = {"repeats": 3, "duration": 3.0, "users": "8,32,64", "no_edge": False}
QUICK: dict[str, Any] = {"repeats": 2, "duration": 1.5}

COOKIE = "__Secure-refresh_token"
_COOKIE_RE = re.compile(COOKIE + r"=([^;]*)")
POOL_LIMIT = 20


# The statements of one rotation on PostgreSQL, taken from identity itself, so the ceiling
# always sends what identity sends: the consume with the facts, then the successor.
# (identity.persistence.prepared.Prepared: the text asyncpg gets and the order of its arguments.)
CONSUME_AND_READ, RECORD_ROTATION = ROTATION_STATEMENTS


class GrpcChains:
    def __init__(self, channel: grpc.aio.Channel, edge_secret: str, tokens: list[str]) -> None:
        self.stub = identity_pb2_grpc.IdentityServiceStub(channel)
        self.md = metadata(edge_secret)
        self.tokens = tokens
        self.dead: set[int] = set()

    async def rotate(self, i: int) -> None:
        if i in self.dead:
            await asyncio.sleep(0.01)
            raise RuntimeError("chain broken")
        try:
            answer = await self.stub.Refresh(
                pb.RefreshRequest(refresh_token=self.tokens[i]), metadata=self.md
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                self.dead.add(i)
            raise
        self.tokens[i] = answer.refresh_token


class EdgeChains:
    """Refresh chains through the edge, driven with aiohttp: httpx, at 64 connections, took
    ~10 ms of the load generator's CPU per request, so the generator's core was the limit
    (measured: generator 100 %, identity and the edge 50–75 % of their core), not the edge."""

    def __init__(self, session: aiohttp.ClientSession, base: str, cookies: list[str]) -> None:
        self.session = session
        self.base = base
        self.cookies = cookies
        self.dead: set[int] = set()

    @staticmethod
    async def login(session: aiohttp.ClientSession, base: str, email: str) -> str:
        headers = {"X-Requested-With": "bench"}
        body = {"email": email, "password": PASSWORD}
        async with session.post(base + "/auth/register", json=body, headers=headers) as answer:
            if answer.status not in (200, 201, 204):
                raise RuntimeError(f"edge register: {answer.status} {(await answer.text())[:200]}")
        async with session.post(base + "/auth/login", json=body, headers=headers) as answer:
            if answer.status != 200:
                raise RuntimeError(f"edge login: {answer.status} {(await answer.text())[:200]}")
            return _cookie_of(answer.headers.getall("Set-Cookie", []))

    async def rotate(self, i: int) -> None:
        if i in self.dead:
            await asyncio.sleep(0.01)
            raise RuntimeError("chain broken")
        async with self.session.post(
            self.base + "/auth/refresh",
            headers={"X-Requested-With": "bench", "Cookie": f"{COOKIE}={self.cookies[i]}"},
        ) as answer:
            await answer.read()
            if answer.status != 200:
                if answer.status == 401:
                    self.dead.add(i)
                raise RuntimeError(f"edge refresh {answer.status}")
            self.cookies[i] = _cookie_of(answer.headers.getall("Set-Cookie", []))


def refresh_cookie(answer: httpx.Response) -> str:
    """The refresh cookie an edge answer sets (httpx)."""
    return _cookie_of(answer.headers.get_list("set-cookie"))


def _cookie_of(set_cookie_headers: list[str]) -> str:
    for header in set_cookie_headers:
        match = _COOKIE_RE.search(header)
        if match and match.group(1):
            return match.group(1)
    raise RuntimeError("no refresh cookie in the answer")


class PgChains:
    """The same two statements per rotation, straight from asyncpg, each in autocommit as
    identity sends them (random successor digests: the HMAC derivation and the encryption are
    identity's CPU, not PostgreSQL's)."""

    def __init__(self, pool: asyncpg.Pool, digests: list[bytes]) -> None:
        self.pool = pool
        self.digests = digests

    async def rotate(self, i: int) -> None:
        async with self.pool.acquire() as conn:
            successor = await send_rotation(conn, self.digests[i])
        if successor is None:
            raise RuntimeError("pg chain broken")
        self.digests[i] = successor


class FloorChains:
    """Chains rotated by bench/rotation_floor.py: the request is the current token's digest, the
    answer starts with the successor's."""

    def __init__(
        self,
        digests: list[bytes],
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes],
        md: Any,
    ) -> None:
        self.digests = digests
        self.call = call
        self.md = md

    async def rotate(self, i: int) -> None:
        answer = await self.call(self.digests[i], metadata=self.md, timeout=30.0)
        self.digests[i] = answer[:32]


def _summarise(results: dict[str, list[RunResult]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, runs in results.items():
        summarised = stats(runs)
        out[name] = {
            **{k: summarised[k] for k in ("throughput", "p50_ms", "p99_ms")},
            "errors": sum(r.errors for r in runs),
            "error_kinds": error_kinds(runs),
            "server_cpu": summarised["server_cpu"],
            "cpu_ms_per_call": summarised["cpu_ms_per_call"],
        }
    for a, b in [
        ("grpc", "pg"),
        ("edge", "pg"),
        ("edge", "grpc"),
        ("echo", "pg"),
        ("grpc", "echo"),
        ("floor", "pg"),
        ("grpc", "floor"),
    ]:
        if a in results and b in results:
            out[f"{a}_vs_{b}"] = ratio(results[a], results[b])
    return out


async def _edge_chains(stack: IdentityStack, most: int) -> tuple[EdgeChains, aiohttp.ClientSession]:
    """`most` users logged in through a new edge, and the client that keeps their cookies."""
    url = await stack.start_edge()
    # Cookies are carried by hand (aiohttp, like browsers, keeps a Secure cookie off
    # http://127.0.0.1); no jar.
    client = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=most + 4),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=30.0),
    )
    semaphore = asyncio.Semaphore(4)

    async def edge_login(email: str) -> str:
        async with semaphore:
            return await EdgeChains.login(client, url, email)

    try:
        cookies = list(await asyncio.gather(*map(edge_login, emails("edge", most))))
    except BaseException:
        await client.close()
        raise
    return EdgeChains(client, url, cookies), client


async def measure(args: argparse.Namespace, seed: int = 3) -> dict[str, Any]:
    users = ints(args.users)
    rng = random.Random(seed)
    most = max(users)
    notes: list[str] = []
    async with IdentityStack() as stack:
        channel, edge_secret = stack.channels[0], stack.credentials["edge"]
        logins = await register_and_login(channel, edge_secret, most, "grpc", 4)
        grpc_chains = GrpcChains(channel, edge_secret, [t.refresh_token for t in logins])
        # The floor of any grpc.aio server on the same core: a handler that does nothing with
        # the same request bytes and metadata (bench/echo.py).
        echo_proc, echo_channel = await start_echo()
        echo_call = echo_channel.unary_unary(ECHO_METHOD)
        refresh_bytes = pb.RefreshRequest(refresh_token=logins[0].refresh_token).SerializeToString()
        echo_md = metadata(edge_secret)

        async def echo(i: int) -> None:
            await echo_call(refresh_bytes, metadata=echo_md, timeout=30.0)

        pg_logins = await register_and_login(channel, edge_secret, most, "pg", 4)
        pg_digests = [refresh_token_digest(t.refresh_token) for t in pg_logins]
        floor_logins = await register_and_login(channel, edge_secret, most, "floor", 4)
        answer_bytes = len(floor_logins[0].SerializeToString())
        floor_proc, floor_channel = await start_floor(stack.db.dsn, answer_bytes)
        floor_chains = FloorChains(
            [refresh_token_digest(t.refresh_token) for t in floor_logins],
            floor_channel.unary_unary(FLOOR_METHOD),
            echo_md,
        )
        edge_chains: EdgeChains | None = None
        client: aiohttp.ClientSession | None = None
        if not args.no_edge:
            try:
                edge_chains, client = await _edge_chains(stack, most)
            except Exception as exc:  # the edge may not be finished: record, go on
                notes.append(f"edge part skipped: {type(exc).__name__}: {str(exc)[:300]}")
                print("  " + notes[-1], flush=True)

        def edge_cpu() -> float:  # a request through the edge is served by both processes
            return stack.server_cpu_seconds() + stack.edges[0].cpu_seconds()

        per_users: dict[str, Any] = {}
        for n in users:
            # No reset on release: asyncpg's default sends a reset query, a third round trip
            # per rotation that identity does not make (results before 2026-12-07 15:10 UTC
            # had it, and a ceiling lower by as much).
            size = min(n, POOL_LIMIT)
            pool = await asyncpg.create_pool(
                stack.db.dsn, min_size=size, max_size=size, reset=no_reset
            )
            chains: dict[str, Contender] = {
                "grpc": (grpc_chains.rotate, stack.server_cpu_seconds),
                "pg": (PgChains(pool, pg_digests).rotate, None),
                "echo": (echo, echo_proc.cpu_seconds),
                "floor": (floor_chains.rotate, floor_proc.cpu_seconds),
            }
            if edge_chains is not None:
                chains["edge"] = (edge_chains.rotate, edge_cpu)
            order = shuffled(rng, chains)
            results = await closed_loops(chains, n, args.duration, args.repeats, order)
            await pool.close()
            per_users[str(n)] = _summarise(results)
            print(f"  refresh users={n}: {_line(per_users[str(n)])}", flush=True)
        if client is not None:
            await client.close()
        await echo_channel.close()
        echo_proc.stop()
        await floor_channel.close()
        floor_proc.stop()
    return {
        "settings": {
            "repeats": args.repeats,
            "duration_s": args.duration,
            "warmup_s": 0.5,
            "users": list(users),
            "pg_pool": f"min(users, {POOL_LIMIT})",
            "server_cpus": list(SERVER_CPUS),
            "client_cpus": list(CLIENT_CPUS),
        },
        "statements_per_rotation": [
            " ".join(CONSUME_AND_READ.sql.split()),
            " ".join(RECORD_ROTATION.sql.split()),
        ],
        "results": per_users,
        "notes": notes,
    }


def _line(s: dict[str, Any]) -> str:
    parts = []
    for name in ("edge", "grpc", "floor", "echo", "pg"):
        if name in s:
            parts.append(
                f"{name} {fmt_num(s[name]['throughput'])}/s p50 {fmt_num(s[name]['p50_ms'], 1)} "
                f"p99 {fmt_num(s[name]['p99_ms'], 1)} ms err {s[name]['errors']}"
            )
    keys = ("grpc_vs_pg", "edge_vs_pg", "edge_vs_grpc", "echo_vs_pg", "grpc_vs_echo", "floor_vs_pg")
    for key in keys:
        if key in s:
            parts.append(f"{key} {fmt_ratio(s[key])}")
    return "; ".join(parts)


def report(data: dict[str, Any]) -> str:
    lines = [f"users={n}: {_line(s)}" for n, s in data["results"].items()]
    lines += data.get("notes", [])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_benchmark("refresh", __doc__, argv, measure, report, QUICK, **FLAGS)


if __name__ == "__main__":
    main()
