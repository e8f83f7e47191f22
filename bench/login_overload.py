"""Login overload through the edge: 8, 32 and 128 clients logging in at once, and what a
refusal costs.

    python -m bench.login_overload [--repeats 2] [--duration 5] [--clients 8,32,128] [--quick]

`POST /auth/login` on `edge-http serve` (aiohttp, a closed loop per client, 16 accounts in
turn; the refusing identity below has 16 others, each login a new session) in front of
`identity serve` on PostgreSQL with its defaults: one worker process per core, each with one
hash thread per core and a queue of IDENTITY_HASH_QUEUE (128) logins, hash threads at nice +10.
Per client count: logins/s, the 429 answers, p50/p99 of the logins, identity's and the edge's
CPU (cores) and the load generator's own. Below the queue bound (8 and 32 clients) every login
must wait its turn: no 429. The parallel-hash rate (one argon2-cffi thread per core, in this
process, identity idle) is measured before and after each round; logins/s are judged against
its mean.

What a refusal costs, measured apart: a second identity (one worker) with one hash thread, no
queue (IDENTITY_HASH_QUEUE=0) and a hash that takes about a second
(IDENTITY_ARGON2_TIME_COST=60), so nearly every login is refused, behind its own edge, at the
largest client count. identity refuses one login when its queue is full; for the Retry-After
the edge refuses the rest itself (edge_http/hash_admission.py). identity's CPU per refused login
is that of its threads other than the hash thread (told apart by their nice value) divided by
the 429 answers; the edge's is its whole CPU divided by the same; the edge's /metrics tells how
many of them identity gave and how many the edge. `direct_us_per_refusal` is identity refusing
every call itself (gRPC Login straight to it, no edge: a whole gRPC call each), and
`decision_us` the refusal decision alone, in this process: PasswordHashing.admission on a full
queue.

identity, the edge and PostgreSQL are not pinned (hashing is built to use every core); the load
generator is pinned to core 0.
"""

from __future__ import annotations

import argparse
import contextvars
import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import grpc
import grpc.aio
from prometheus_client.parser import text_string_to_metric_families

from bench._common import ALL_CPUS, CLIENT_CPUS, N_CPUS, fmt_num, fmt_ratio, summary
from bench.internals import Argon2Params, Overloaded, PasswordHashing
from bench.load import RunResult, closed_loop
from bench.login import _cpu_split, measure_ceiling
from bench.procfs import proc_cpu_seconds, tree_cpu_seconds, tree_thread_cpu_seconds
from bench.runner import ints, run_benchmark
from bench.stack import PASSWORD, IdentityStack, emails, metadata, register
from bench.targets import bars, console_line
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc

# The command line: --name value for each flag; --quick (a smoke run) sets QUICK instead.
FLAGS: dict[str, Any] = {"repeats": 2, "duration": 5.0, "clients": "8,32,128"}
QUICK: dict[str, Any] = {"repeats": 1, "duration": 2.0}

ACCOUNTS = 16
SLOW_HASH = {"IDENTITY_WORKERS": "1", "IDENTITY_HASH_WORKERS": "1", "IDENTITY_HASH_QUEUE": "0"}
# identity's own defaults (bench.stack pins one worker unless told otherwise).
DEFAULTS = {"IDENTITY_WORKERS": ""}
SLOW_TIME_COST = "60"


class Refused(Exception):
    """A 429 from the edge: counted apart from other errors by closed_loop (its kind)."""


class EdgeLogins:
    def __init__(self, session: aiohttp.ClientSession, base: str, accounts: list[str]) -> None:
        self.session = session
        self.url = base + "/auth/login"
        self.bodies = [{"email": email, "password": PASSWORD} for email in accounts]

    async def login(self, i: int) -> None:
        body = self.bodies[i % len(self.bodies)]
        async with self.session.post(
            self.url, json=body, headers={"X-Requested-With": "bench"}
        ) as answer:
            await answer.read()
            if answer.status == 429:
                raise Refused
            if answer.status != 200:
                raise RuntimeError(f"edge login {answer.status}")


class DirectLogins:
    """gRPC Login straight to identity, as the edge sends it: RESOURCE_EXHAUSTED is Refused."""

    def __init__(self, channel: grpc.aio.Channel, secret: str, accounts: list[str]) -> None:
        self.stub = identity_pb2_grpc.IdentityServiceStub(channel)
        self.metadata = metadata(secret)
        self.requests = [pb.LoginRequest(email=email, password=PASSWORD) for email in accounts]

    async def login(self, i: int) -> None:
        request = self.requests[i % len(self.requests)]
        try:
            await self.stub.Login(request, metadata=self.metadata, timeout=60.0)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise Refused from None
            raise


async def _edge_refusals(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """The edge's login outcomes so far (its /metrics): the 429s identity gave
    (`resource_exhausted`) and those the edge gave itself (`shed`)."""
    async with session.get(base + "/metrics") as answer:
        text = await answer.text()
    found = {"resource_exhausted": 0.0, "shed": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "edge_auth_outcomes_total" and sample.labels.get("operation") == (
                "login"
            ):
                outcome = sample.labels.get("outcome", "")
                if outcome in found:
                    found[outcome] = sample.value
    return found


class Window:
    """CPU over a closed loop's measured window: identity (and its threads), the edge, us."""

    def __init__(self, identity: int, edge: int) -> None:
        self.identity, self.edge = identity, edge
        self.samples: list[tuple[float, dict[int, tuple[int, float]], float, float]] = []

    def probe(self) -> float:
        threads = tree_thread_cpu_seconds(self.identity)
        edge, mine = tree_cpu_seconds(self.edge), proc_cpu_seconds(os.getpid())
        self.samples.append((tree_cpu_seconds(self.identity), threads, edge, mine))
        return self.samples[-1][0]

    def used(self, run: RunResult) -> dict[str, float]:
        (ident0, threads0, edge0, mine0), (ident1, threads1, edge1, mine1) = self.samples[-2:]
        refusals = (run.error_kinds or {}).get("Refused", 0)
        split = _cpu_split(threads0, threads1, 1)  # milliseconds over the window
        per = 1e6 / max(refusals, 1)
        return {
            "identity_cpu": (ident1 - ident0) / run.elapsed,
            "edge_cpu": (edge1 - edge0) / run.elapsed,
            "generator_cpu": (mine1 - mine0) / run.elapsed,
            "identity_us_per_refusal": split["identity_other_ms_per_login"] / 1e3 * per,
            "edge_us_per_refusal": (edge1 - edge0) * per,
        }


def decision_us(samples: int = 20_000) -> float:
    """The refusal alone, per call: an admission to a full queue raising Overloaded."""
    pool = PasswordHashing(Argon2Params(), workers=1, max_waiting=0)
    # The one place, taken as another task would take it (in a context of its own).
    holder, elsewhere = pool.admission(), contextvars.Context()
    elsewhere.run(holder.__enter__)
    try:
        started = time.perf_counter()
        for _ in range(samples):
            try:
                with pool.admission():
                    raise AssertionError("the queue was full")
            except Overloaded:
                pass
        return (time.perf_counter() - started) / samples * 1e6
    finally:
        elsewhere.run(holder.__exit__, None, None, None)
        pool.close()


async def _client(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit + 4),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=60.0),
    )


def _row(run: RunResult, used: dict[str, float], parallel: float) -> dict[str, float]:
    return {
        "logins_per_s": run.throughput,
        "refused_429": float((run.error_kinds or {}).get("Refused", 0)),
        "other_errors": float(run.errors - (run.error_kinds or {}).get("Refused", 0)),
        "p50_ms": run.p(50) * 1e3,
        "p99_ms": run.p(99) * 1e3,
        "logins_vs_parallel": run.throughput / parallel,
        **used,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    clients = ints(args.clients)
    most = max(clients)
    rounds: dict[int, list[dict[str, float]]] = {n: [] for n in clients}
    refusal_rows: list[dict[str, float]] = []
    async with IdentityStack(cpus=ALL_CPUS, extra_env=DEFAULTS) as stack:
        accounts = emails("overload", ACCOUNTS)
        # Accounts of their own for the refusing identity: a login it admits rehashes the
        # password with its own (slow) cost, and the main identity would then verify that hash
        # at a second each and rehash it back (rounds after the first ran at half the rate).
        refusal_accounts = emails("overload-refused", ACCOUNTS)
        await register(stack.channels[0], stack.credentials["edge"], accounts + refusal_accounts)
        edge_url = await stack.start_edge(cpus=ALL_CPUS)
        slow = await stack.add_server(
            ALL_CPUS,
            name="identity-refusing",
            IDENTITY_ARGON2_TIME_COST=SLOW_TIME_COST,
            **SLOW_HASH,
        )
        slow_edge_url = await stack.start_edge(cpus=ALL_CPUS, target=slow)
        session = await _client(most)
        try:
            logins = EdgeLogins(session, edge_url, accounts)
            refusing = EdgeLogins(session, slow_edge_url, refusal_accounts)
            direct = DirectLogins(stack.channels[1], stack.credentials["edge"], refusal_accounts)
            main = Window(stack.servers[0].pid, stack.edges[0].pid)
            refused = Window(stack.servers[1].pid, stack.edges[1].pid)
            for _ in range(args.repeats):
                before = measure_ceiling()
                results = {n: await _loop(logins.login, n, args.duration, main) for n in clients}
                after = measure_ceiling()
                parallel = (before["parallel_per_s"] + after["parallel_per_s"]) / 2
                for n, (run, used) in results.items():
                    rounds[n].append(_row(run, used, parallel))
                seen = await _edge_refusals(session, slow_edge_url)
                run, used = await _loop(refusing.login, most, args.duration, refused)
                now = await _edge_refusals(session, slow_edge_url)
                by = {k: v - seen[k] for k, v in now.items()}
                alone, alone_used = await _loop(direct.login, most, args.duration, refused)
                refusal_rows.append(
                    {
                        **used,
                        "refusals": float(run.errors),
                        "refused_by_identity": by["resource_exhausted"],
                        "refused_by_edge": by["shed"],
                        "direct_us_per_refusal": alone_used["identity_us_per_refusal"],
                        "direct_refusals": float(alone.errors),
                    }
                )
                print(f"  overload round: {_round_line(rounds, refusal_rows[-1])}", flush=True)
        finally:
            await session.close()
    per_clients: dict[str, Any] = {}
    for n, rows in rounds.items():
        per_clients[str(n)] = {k: summary([r[k] for r in rows]) for k in rows[0]}
    base = rounds[clients[0]]
    for n in clients[1:]:
        per_clients[str(n)][f"vs_{clients[0]}"] = summary(
            [r["logins_per_s"] / b["logins_per_s"] for r, b in zip(rounds[n], base, strict=True)]
        )
    refusal = {k: summary([r[k] for r in refusal_rows]) for k in refusal_rows[0]}
    refusal["decision_us"] = summary([decision_us() for _ in range(3)])
    return {
        "settings": {
            "repeats": args.repeats,
            "duration_s": args.duration,
            "clients": list(clients),
            "accounts": ACCOUNTS,
            "cores": N_CPUS,
            "client_cpus": list(CLIENT_CPUS),
            "refusing_identity": {**SLOW_HASH, "IDENTITY_ARGON2_TIME_COST": SLOW_TIME_COST},
        },
        "targets": bars("login_overload"),
        "results": {"clients": per_clients, "refusal": refusal},
    }


async def _loop(
    call: Callable[[int], Any], clients: int, duration: float, window: Window
) -> tuple[RunResult, dict[str, float]]:
    run = await closed_loop(call, clients, duration, cpu_probe=window.probe)
    return run, window.used(run)


def _round_line(rounds: dict[int, list[dict[str, float]]], refusal: dict[str, float]) -> str:
    parts = [
        f"{n} clients {r[-1]['logins_per_s']:.1f}/s ({r[-1]['refused_429']:.0f} × 429, p99 "
        f"{r[-1]['p99_ms']:.0f} ms)"
        for n, r in rounds.items()
    ]
    parts.append(
        f"refusal: identity {refusal['identity_us_per_refusal']:.0f} µs, edge "
        f"{refusal['edge_us_per_refusal']:.0f} µs ({refusal['refusals']:.0f} refusals: "
        f"{refusal['refused_by_identity']:.0f} by identity, {refusal['refused_by_edge']:.0f} by "
        f"the edge); identity alone {refusal['direct_us_per_refusal']:.0f} µs"
    )
    return "; ".join(parts)


def report(data: dict[str, Any]) -> str:
    lines = []
    for n, r in data["results"]["clients"].items():
        versus = next(
            (f"; ÷ first {fmt_ratio(v)}" for k, v in r.items() if k.startswith("vs_")), ""
        )
        lines.append(
            f"{n} clients: {fmt_num(r['logins_per_s'], 1)} logins/s, 429s "
            f"{fmt_num(r['refused_429'])}, p50/p99 {fmt_num(r['p50_ms'])} / "
            f"{fmt_num(r['p99_ms'])} ms, ÷ parallel-hash rate {fmt_ratio(r['logins_vs_parallel'])}"
            f"{versus}; identity {fmt_num(r['identity_cpu'], 2)}, edge "
            f"{fmt_num(r['edge_cpu'], 2)}, generator {fmt_num(r['generator_cpu'], 2)} cores"
        )
    f = data["results"]["refusal"]
    lines.append(
        f"CPU per refusal through the edge: identity {fmt_num(f['identity_us_per_refusal'])} µs, "
        f"edge {fmt_num(f['edge_us_per_refusal'])} µs ({fmt_num(f['refused_by_identity'])} "
        f"refused by identity, {fmt_num(f['refused_by_edge'])} by the edge); identity refusing "
        f"gRPC calls itself {fmt_num(f['direct_us_per_refusal'])} µs; the decision alone "
        f"{fmt_num(f['decision_us'], 2)} µs"
    )
    lines.append(console_line("login_overload"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_benchmark("login_overload", __doc__, argv, measure, report, QUICK, **FLAGS)


if __name__ == "__main__":
    main()
