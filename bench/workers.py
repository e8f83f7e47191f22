"""Every core: refresh and introspection on `identity serve` with 1 and with 2 worker processes.

    python -m bench.workers [--repeats 3] [--duration 3] [--users 32] [--concurrency 64]
                            [--connections 8] [--quick]

Two `identity serve` on one throwaway database: one with IDENTITY_WORKERS=1, one with
IDENTITY_WORKERS=2 (both processes on one port, SO_REUSEPORT). The load generator opens
`connections` channels to each (one TCP connection apiece: the kernel hands each connection to
one worker, so a single channel would reach a single worker) and spreads its workers over them.
Nothing is pinned but the generator, which has core 0 to itself as far as the others let it:
identity's workers and PostgreSQL share both cores, as they would on a 2-core host.

Reported per configuration: throughput, p50/p99, identity's CPU (the parent and its workers,
from /proc), the load generator's own CPU (this process, over the same window) and, with 2
workers, the share of identity's CPU each worker used (how evenly the connections spread).
Per repeat the configurations alternate; ratios (2 ÷ 1) are within the repeat.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import grpc.aio

from bench._common import ALL_CPUS, CLIENT_CPUS, N_CPUS, fmt_num, fmt_ratio, summary
from bench.introspect import INTROSPECT, introspect_setup
from bench.load import RunResult, closed_loop
from bench.procfs import child_pids, proc_cpu_seconds, tree_cpu_seconds
from bench.refresh import GrpcChains
from bench.runner import interleaved, ratio, run_benchmark, stats
from bench.stack import IdentityStack, register_and_login
from bench.targets import bars

# The command line: --name value for each flag; --quick (a smoke run) sets QUICK instead.
FLAGS: dict[str, Any] = {
    "repeats": 3,
    "duration": 3.0,
    "users": 32,
    "concurrency": 64,
    "connections": 8,
}
QUICK: dict[str, Any] = {"repeats": 2, "duration": 1.5}

WORKLOADS = ("refresh", "introspect")
WORKER_COUNTS = (1, 2)
# Each channel its own connection: grpc shares subchannels between channels by default.
_OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def _order(repeat: int) -> list[tuple[str, int]]:
    counts = WORKER_COUNTS if repeat % 2 == 0 else WORKER_COUNTS[::-1]
    return [(workload, n) for n in counts for workload in WORKLOADS]


class Window:
    """CPU seconds over a closed loop's measured window: identity's (parent and workers, each
    worker apart) and this load generator's. `probe` is the loop's cpu_probe."""

    def __init__(self, parent: int) -> None:
        self.parent = parent
        self.samples: list[tuple[float, dict[int, float], float]] = []

    def probe(self) -> float:
        workers = {pid: proc_cpu_seconds(pid) for pid in child_pids(self.parent)}
        mine = proc_cpu_seconds(os.getpid())
        self.samples.append((tree_cpu_seconds(self.parent), workers, mine))
        return self.samples[-1][0]

    def split(self, elapsed: float) -> dict[str, Any]:
        (_, before, gen_before), (_, after, gen_after) = self.samples[-2:]
        used = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
        total = sum(used.values()) or 1.0
        return {
            "generator_cpu": (gen_after - gen_before) / elapsed if elapsed else 0.0,
            "worker_shares": sorted((u / total for u in used.values()), reverse=True),
        }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    async with IdentityStack(servers=1, cpus=ALL_CPUS) as stack:
        await stack.add_server(ALL_CPUS, name="identity-2-workers", IDENTITY_WORKERS="2")
        targets = dict(zip(WORKER_COUNTS, stack.targets, strict=True))
        parents = dict(zip(WORKER_COUNTS, (p.pid for p in stack.servers), strict=True))
        channels = {
            n: [
                grpc.aio.insecure_channel(targets[n], _OWN_CONNECTION)
                for _ in range(args.connections)
            ]
            for n in WORKER_COUNTS
        }
        edge_secret = stack.credentials["edge"]
        requests, md = await introspect_setup(stack, stack.channels[0])
        intro = {n: [c.unary_unary(INTROSPECT) for c in channels[n]] for n in WORKER_COUNTS}
        chains = {}
        for n in WORKER_COUNTS:
            logins = await register_and_login(
                stack.channels[0], edge_secret, args.users, f"w{n}", 4
            )
            tokens = [t.refresh_token for t in logins]
            chains[n] = [GrpcChains(c, edge_secret, tokens) for c in channels[n]]
        windows = {n: Window(parents[n]) for n in WORKER_COUNTS}
        extra: dict[tuple[str, int], list[dict[str, Any]]] = {}

        def rotate(n: int, i: int) -> Awaitable[Any]:
            return chains[n][i % args.connections].rotate(i)

        def introspect(n: int, i: int) -> Awaitable[Any]:
            return intro[n][i % args.connections](requests[i % len(requests)], metadata=md)

        async def run(workload: str, n: int) -> RunResult:
            call: Callable[[int, int], Awaitable[Any]]
            call, concurrency = (
                (rotate, args.users) if workload == "refresh" else (introspect, args.concurrency)
            )
            result = await closed_loop(
                partial(call, n), concurrency, args.duration, cpu_probe=windows[n].probe
            )
            extra.setdefault((workload, n), []).append(windows[n].split(result.elapsed))
            return result

        runs = await interleaved(
            {(w, n): partial(run, w, n) for w in WORKLOADS for n in WORKER_COUNTS},
            args.repeats,
            _order,
        )
        for listed in channels.values():
            for channel in listed:
                await channel.close()
    out: dict[str, Any] = {}
    for name in WORKLOADS:
        one, two = runs[(name, 1)], runs[(name, 2)]
        row: dict[str, Any] = {}
        for n, r in ((1, one), (2, two)):
            for measure_name, value in stats(
                r, "throughput", "p50_ms", "p99_ms", "server_cpu"
            ).items():
                row[f"{measure_name}_{n}"] = value
            row[f"generator_cpu_{n}"] = summary([e["generator_cpu"] for e in extra[(name, n)]])
            row[f"cpu_ms_per_call_{n}"] = summary(
                [x.server_cpu / x.throughput * 1e3 for x in r if x.throughput]
            )
        row["busiest_worker_share_2"] = summary([e["worker_shares"][0] for e in extra[(name, 2)]])
        row["throughput_ratio"] = ratio(two, one)
        row["errors"] = sum(r.errors for r in one + two)
        out[name] = row
        print(f"  workers {name}: {_line(row)}", flush=True)
    return {
        "settings": {
            "repeats": args.repeats,
            "duration_s": args.duration,
            "refresh_users": args.users,
            "introspect_concurrency": args.concurrency,
            "connections": args.connections,
            "cores": N_CPUS,
            "client_cpus": list(CLIENT_CPUS),
            "pinning": f"load generator on core {list(CLIENT_CPUS)}; identity's workers and "
            "PostgreSQL not pinned (all cores, the generator's included)",
        },
        "targets": bars("workers"),
        "results": out,
    }


def _line(s: dict[str, Any]) -> str:
    parts = []
    for n in WORKER_COUNTS:
        parts.append(
            f"{n} worker{'s' if n > 1 else ''} {fmt_num(s[f'throughput_{n}'])}/s (p99 "
            f"{fmt_num(s[f'p99_ms_{n}'], 1)} ms, identity {fmt_num(s[f'server_cpu_{n}'], 2)} "
            f"cores, generator {fmt_num(s[f'generator_cpu_{n}'], 2)})"
        )
    return (
        ", ".join(parts) + f": ratio {fmt_ratio(s['throughput_ratio'])}; busiest worker's share "
        f"{fmt_ratio(s['busiest_worker_share_2'])}"
    )


def report(data: dict[str, Any]) -> str:
    return "\n".join(f"{name}: {_line(s)}" for name, s in data["results"].items())


def main(argv: list[str] | None = None) -> None:
    run_benchmark("workers", __doc__, argv, measure, report, QUICK, **FLAGS)


if __name__ == "__main__":
    main()
