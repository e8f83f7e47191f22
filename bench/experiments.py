"""A/B experiments behind the fix proposals for code this benchmark does not own.

    python -m bench.experiments [--repeats 3] [--duration 3] [--only handler_cache,...]

For each experiment: one throwaway database, two `identity serve` processes on it — A
unchanged, B with one monkeypatch from bench._patches (BENCH_EXPERIMENTS) — and the same load
sent to A and to B alternately, repeat by repeat (order alternating). The ratio B ÷ A is taken
within each repeat. Pinning as in the benchmark the workload comes from: Introspect and Refresh
with both processes on the server core and the load generator on core 0; the login storm with
identity on every core.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from bench._common import ALL_CPUS, SERVER_CPUS, fmt_ratio, summary
from bench._patches import DESCRIPTIONS
from bench.introspect import INTROSPECT, introspect_setup
from bench.load import closed_loop, cycling, storm_beside_probe
from bench.refresh import GrpcChains
from bench.runner import alternating, interleaved, run_benchmark
from bench.stack import PASSWORD, IdentityStack, emails, metadata, register, register_and_login
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc

WORKLOADS = {
    "handler_cache": "introspect",
}

# The command line: --name value for each flag; --quick (a smoke run) sets QUICK instead.
FLAGS: dict[str, Any] = {"repeats": 4, "duration": 3.0, "only": ",".join(WORKLOADS)}
QUICK: dict[str, Any] = {"repeats": 2, "duration": 2.0}

DESCRIBED = {
    "introspect": "Introspect, 64 concurrent",
    "refresh": "gRPC Refresh, 32 users",
    "login": "login storm (8 concurrent) + Introspect probe",
}
Measure = Callable[[int], Awaitable[dict[str, float]]]


async def _introspect(stack: IdentityStack, duration: float) -> Measure:
    requests, md = await introspect_setup(stack, stack.channels[0])
    calls = [c.unary_unary(INTROSPECT) for c in stack.channels]

    async def measure(side: int) -> dict[str, float]:
        r = await closed_loop(
            lambda i: calls[side](requests[i % len(requests)], metadata=md),
            64,
            duration,
            cpu_probe=stack.servers[side].cpu_seconds,
        )
        return {"throughput": r.throughput, "p99": r.p(99)}

    return measure


async def _refresh(stack: IdentityStack, duration: float) -> Measure:
    chains = []
    for side, channel in enumerate(stack.channels):
        secret = stack.credentials["edge"]
        logins = await register_and_login(channel, secret, 32, f"x{side}", 4)
        chains.append(GrpcChains(channel, secret, [t.refresh_token for t in logins]))

    async def measure(side: int) -> dict[str, float]:
        r = await closed_loop(
            chains[side].rotate, 32, duration, cpu_probe=stack.servers[side].cpu_seconds
        )
        return {"throughput": r.throughput, "p99": r.p(99)}

    return measure


async def _login(stack: IdentityStack, duration: float) -> Measure:
    """A login storm with an introspection probe beside it."""
    requests, md = await introspect_setup(stack, stack.channels[0])
    accounts = emails("ab", 16)
    await register(stack.channels[0], stack.credentials["edge"], accounts)
    logins = [pb.LoginRequest(email=e, password=PASSWORD, client_id="web") for e in accounts]
    edge_md = metadata(stack.credentials["edge"])

    async def measure(side: int) -> dict[str, float]:
        channel = stack.channels[side]
        login = cycling(identity_pb2_grpc.IdentityServiceStub(channel).Login, logins, edge_md)
        probe = cycling(channel.unary_unary(INTROSPECT), requests, md)
        idle, during, s = await storm_beside_probe(login, probe, 8, duration, 50.0)
        return {"throughput": s.throughput, "p99_storm_vs_idle": during.p(99) / idle.p(99)}

    return measure


SETUPS = {"introspect": _introspect, "refresh": _refresh, "login": _login}


async def one(patch: str, repeats: int, duration: float) -> list[dict[str, Any]]:
    workload = WORKLOADS[patch]
    cpus = ALL_CPUS if workload == "login" else SERVER_CPUS
    async with IdentityStack(cpus=cpus) as stack:
        await stack.add_server(cpus, name=f"identity-{patch}", BENCH_EXPERIMENTS=patch)
        measure = await SETUPS[workload](stack, duration)
        got = await interleaved(
            {side: partial(measure, side) for side in (0, 1)},
            repeats,
            alternating((0, 1)),
        )
    return [
        {
            "name": patch,
            "workload": DESCRIBED[workload],
            "what": DESCRIPTIONS[patch],
            "metric": metric,
            # Patched (B, side 1) ÷ unchanged (A, side 0), repeat by repeat.
            "ratio": summary([b[metric] / a[metric] for a, b in zip(got[0], got[1], strict=True)]),
        }
        for metric in got[0][0]
    ]


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for patch in args.only.split(","):
        got = await one(patch, args.repeats, args.duration)
        for row in got:
            print(f"  {patch}: {row['metric']} B/A {fmt_ratio(row['ratio'])}", flush=True)
        rows += got
    return {"settings": {"repeats": args.repeats, "duration_s": args.duration}, "results": rows}


def report(data: dict[str, Any]) -> str:
    return "\n".join(
        f"{row['name']:18} {row['metric']:18} B/A {fmt_ratio(row['ratio'])}"
        for row in data["results"]
    )


def main(argv: list[str] | None = None) -> None:
    run_benchmark("experiments", __doc__, argv, measure, report, QUICK, **FLAGS)


if __name__ == "__main__":
    main()
