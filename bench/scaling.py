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
import asyncio
from typing import Any

import grpc.aio

from bench._common import N_CPUS, fmt_num, fmt_ratio, pin, save, summary
from bench.introspect import INTROSPECT, introspect_setup
from bench.load import RunResult, closed_loop
from bench.refresh import GrpcChains
from bench.stack import IdentityStack, register_and_login

ALL_CPUS = tuple(range(N_CPUS))


async def run(
    repeats: int = 3, duration: float = 3.0, users: int = 32, concurrency: int = 64
) -> dict[str, Any]:
    pin(ALL_CPUS)
    async with IdentityStack() as stack:
        await stack.start(servers=2, cpus=ALL_CPUS)
        channels = [grpc.aio.insecure_channel(t) for t in stack.targets]
        requests, md = await introspect_setup(stack, channels[0])
        intro = [c.unary_unary(INTROSPECT) for c in channels]
        logins = await register_and_login(channels[0], stack.credentials["edge"], users, "sc", 4)
        tokens = [t.refresh_token for t in logins]
        chains = [GrpcChains(c, stack.credentials["edge"], tokens) for c in channels]
        # One token list shared by both: a chain rotates on whichever process its user is sent to.

        def refresh_call(processes: int) -> Any:
            return lambda i: chains[i % processes].rotate(i)

        def introspect_call(processes: int) -> Any:
            return lambda i: intro[i % processes](requests[i % len(requests)], metadata=md)

        results: dict[str, dict[int, list[RunResult]]] = {
            "refresh": {1: [], 2: []},
            "introspect": {1: [], 2: []},
        }
        for r in range(repeats):
            for processes in (1, 2) if r % 2 == 0 else (2, 1):
                results["refresh"][processes].append(
                    await closed_loop(
                        refresh_call(processes),
                        users,
                        duration,
                        cpu_probe=stack.server_cpu_seconds,
                    )
                )
                results["introspect"][processes].append(
                    await closed_loop(
                        introspect_call(processes),
                        concurrency,
                        duration,
                        cpu_probe=stack.server_cpu_seconds,
                    )
                )
        for c in channels:
            await c.close()
    out: dict[str, Any] = {}
    for name, by in results.items():
        out[name] = {
            "throughput_1": summary([r.throughput for r in by[1]]),
            "throughput_2": summary([r.throughput for r in by[2]]),
            "p99_ms_1": summary([r.p(99) * 1e3 for r in by[1]]),
            "p99_ms_2": summary([r.p(99) * 1e3 for r in by[2]]),
            "server_cpu_1": summary([r.server_cpu for r in by[1]]),
            "server_cpu_2": summary([r.server_cpu for r in by[2]]),
            "throughput_ratio": summary(
                [b.throughput / a.throughput for a, b in zip(by[1], by[2], strict=True)]
            ),
            "errors": sum(r.errors for r in by[1] + by[2]),
        }
        print(f"  scaling {name}: {_line(out[name])}", flush=True)
    data = {
        "command": f"python -m bench.scaling --repeats {repeats} --duration {duration} "
        f"--users {users} --concurrency {concurrency}",
        "settings": {
            "repeats": repeats,
            "duration_s": duration,
            "refresh_users": users,
            "introspect_concurrency": concurrency,
            "pinning": "none (2 identity processes, load generator and PostgreSQL share all cores)",
        },
        "results": out,
    }
    save("scaling", data)
    return data


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="2 repeats of 1.5 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration = 2, 1.5
    print(report(asyncio.run(run(args.repeats, args.duration, args.users, args.concurrency))))


if __name__ == "__main__":
    main()
