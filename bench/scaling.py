"""Scaling out: refresh and introspection with 1 and 2 identity processes on one PostgreSQL.

    python -m bench.scaling [--repeats 3] [--duration 3] [--users 32] [--concurrency 64] [--quick]

Two `identity serve` processes run on one throwaway database. The "1 process" configuration
sends all load to the first; "2 processes" splits the virtual users between both (user i →
process i mod 2, one channel each, as the edge's round-robin would). Nothing is pinned here:
a second process can only help if it gets a core, so both processes, the load generator and
PostgreSQL share the 2 cores, and the ratio says what a second process buys on this machine.
Per repeat, the two configurations run back to back in alternating order; ratios (2 ÷ 1) are
within the repeat.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from functools import partial
from typing import Any

from bench._common import ALL_CPUS, fmt_num, fmt_ratio
from bench.introspect import INTROSPECT, introspect_setup
from bench.load import RunResult, closed_loop
from bench.refresh import GrpcChains
from bench.runner import interleaved, ratio, run_benchmark, stats
from bench.stack import IdentityStack, register_and_login

# The command line: --name value for each flag; --quick (a smoke run) sets QUICK instead.
FLAGS: dict[str, Any] = {"repeats": 3, "duration": 3.0, "users": 32, "concurrency": 64}
QUICK: dict[str, Any] = {"repeats": 2, "duration": 1.5}

WORKLOADS = ("refresh", "introspect")


def _order(repeat: int) -> list[tuple[str, int]]:
    """Both workloads on 1 process, then on 2; on 2 first in odd repeats."""
    processes = (1, 2) if repeat % 2 == 0 else (2, 1)
    return [(workload, n) for n in processes for workload in WORKLOADS]


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    async with IdentityStack(servers=2, cpus=ALL_CPUS) as stack:
        channels, edge_secret = stack.channels, stack.credentials["edge"]
        requests, md = await introspect_setup(stack, channels[0])
        intro = [c.unary_unary(INTROSPECT) for c in channels]
        logins = await register_and_login(channels[0], edge_secret, args.users, "sc", 4)
        # One token list shared by both: a chain rotates on whichever process its user is sent to.
        tokens = [t.refresh_token for t in logins]
        chains = [GrpcChains(c, edge_secret, tokens) for c in channels]

        # Worker i always goes to process i mod `processes`, as the edge's round-robin would.
        def rotate(processes: int, i: int) -> Awaitable[Any]:
            return chains[i % processes].rotate(i)

        def introspect(processes: int, i: int) -> Awaitable[Any]:
            return intro[i % processes](requests[i % len(requests)], metadata=md)

        def run(workload: str, processes: int) -> Awaitable[RunResult]:
            call, concurrency = (
                (rotate, args.users) if workload == "refresh" else (introspect, args.concurrency)
            )
            return closed_loop(
                partial(call, processes),
                concurrency,
                args.duration,
                cpu_probe=stack.server_cpu_seconds,
            )

        runs = await interleaved(
            {(w, n): partial(run, w, n) for w in WORKLOADS for n in (1, 2)}, args.repeats, _order
        )
    out: dict[str, Any] = {}
    for name in WORKLOADS:
        one, two = runs[(name, 1)], runs[(name, 2)]
        out[name] = {
            f"{measure}_{n}": value
            for n, r in ((1, one), (2, two))
            for measure, value in stats(r, "throughput", "p99_ms", "server_cpu").items()
        } | {
            "throughput_ratio": ratio(two, one),
            "errors": sum(r.errors for r in one + two),
        }
        print(f"  scaling {name}: {_line(out[name])}", flush=True)
    return {
        "settings": {
            "repeats": args.repeats,
            "duration_s": args.duration,
            "refresh_users": args.users,
            "introspect_concurrency": args.concurrency,
            "pinning": "none (2 identity processes, load generator and PostgreSQL share all cores)",
        },
        "results": out,
    }


def _line(s: dict[str, Any]) -> str:
    return (
        f"1 process {fmt_num(s['throughput_1'])}/s (p99 {fmt_num(s['p99_ms_1'], 1)} ms, "
        f"{fmt_num(s['server_cpu_1'], 2)} cores), 2 processes {fmt_num(s['throughput_2'])}/s "
        f"(p99 {fmt_num(s['p99_ms_2'], 1)} ms, {fmt_num(s['server_cpu_2'], 2)} cores): "
        f"ratio {fmt_ratio(s['throughput_ratio'])}"
    )


def report(data: dict[str, Any]) -> str:
    return "\n".join(f"{name}: {_line(s)}" for name, s in data["results"].items())


def main(argv: list[str] | None = None) -> None:
    run_benchmark("scaling", __doc__, argv, measure, report, QUICK, cpus=ALL_CPUS, **FLAGS)


if __name__ == "__main__":
    main()
