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
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable
from typing import Any

import grpc.aio

from bench._common import CLIENT_CPUS, N_CPUS, SERVER_CPUS, fmt_ratio, pin, save, summary
from bench._patches import DESCRIPTIONS
from bench.introspect import INTROSPECT, introspect_setup
from bench.load import closed_loop, paced
from bench.refresh import GrpcChains
from bench.stack import (
    PASSWORD,
    IdentityStack,
    Process,
    free_port,
    metadata,
    register_and_login,
    wait_grpc_serving,
)
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc

WORKLOADS = {
    "handler_cache": "introspect",
}


async def _add_patched(stack: IdentityStack, patch: str, cpus: tuple[int, ...]) -> str:
    port = free_port()
    target = f"127.0.0.1:{port}"
    count_file = tempfile.mkstemp(prefix="bench-sql-count-")[1]
    proc = Process(
        f"identity-{patch}",
        [sys.executable, "-m", "bench.serve_counted", "serve"],
        stack.env(
            IDENTITY_GRPC_LISTEN=target,
            BENCH_SQL_COUNT_FILE=count_file,
            BENCH_EXPERIMENTS=patch,
        ),
        cpus,
    )
    stack.servers.append(proc)
    stack.targets.append(target)
    stack.count_files.append(count_file)
    await wait_grpc_serving(target, proc)
    return target


async def one(patch: str, repeats: int, duration: float) -> list[dict[str, Any]]:
    workload = WORKLOADS[patch]
    cpus = tuple(range(N_CPUS)) if workload == "login" else SERVER_CPUS
    async with IdentityStack() as stack:
        await stack.start(servers=1, cpus=cpus)
        await _add_patched(stack, patch, cpus)
        channels = [grpc.aio.insecure_channel(t) for t in stack.targets]
        procs = stack.servers
        edge_md = metadata(stack.credentials["edge"])
        metrics: dict[str, list[float]] = {}

        if workload == "introspect":
            requests, md = await introspect_setup(stack, channels[0])
            calls = [c.unary_unary(INTROSPECT) for c in channels]

            async def measure(side: int) -> dict[str, float]:
                r = await closed_loop(
                    lambda i: calls[side](requests[i % len(requests)], metadata=md),
                    64,
                    duration,
                    cpu_probe=procs[side].cpu_seconds,
                )
                return {"throughput": r.throughput, "p99": r.p(99)}

        elif workload == "refresh":
            chains = []
            for side, channel in enumerate(channels):
                logins = await register_and_login(
                    channel, stack.credentials["edge"], 32, f"x{side}", 4
                )
                chains.append(
                    GrpcChains(
                        channel, stack.credentials["edge"], [t.refresh_token for t in logins]
                    )
                )

            async def measure(side: int) -> dict[str, float]:
                r = await closed_loop(
                    chains[side].rotate, 32, duration, cpu_probe=procs[side].cpu_seconds
                )
                return {"throughput": r.throughput, "p99": r.p(99)}

        else:  # login storm with an introspection probe
            requests, md = await introspect_setup(stack, channels[0])
            stubs = [identity_pb2_grpc.IdentityServiceStub(c) for c in channels]
            intro = [c.unary_unary(INTROSPECT) for c in channels]
            emails = [f"ab-{os.getpid()}-{i}@bench.invalid" for i in range(16)]
            for email in emails:
                await stubs[0].Register(
                    pb.RegisterRequest(email=email, password=PASSWORD), metadata=edge_md
                )

            async def measure(side: int) -> dict[str, float]:
                k = [0]

                def login(i: int) -> Awaitable[Any]:
                    k[0] += 1
                    return stubs[side].Login(
                        pb.LoginRequest(
                            email=emails[k[0] % 16], password=PASSWORD, client_id="web"
                        ),
                        metadata=edge_md,
                    )

                def probe() -> Awaitable[Any]:
                    k[0] += 1
                    return intro[side](requests[k[0] % len(requests)], metadata=md)

                idle = await paced(probe, 50.0, duration)
                storm = asyncio.create_task(closed_loop(login, 8, duration))
                await asyncio.sleep(0.5)
                during = await paced(probe, 50.0, duration - 0.5)
                s = await storm
                return {"throughput": s.throughput, "p99_storm_vs_idle": during.p(99) / idle.p(99)}

        for r in range(repeats):
            sides = (0, 1) if r % 2 == 0 else (1, 0)
            got = {side: await measure(side) for side in sides}
            for key in got[0]:
                metrics.setdefault(key, []).append(got[1][key] / got[0][key])
        for c in channels:
            await c.close()
    return [
        {
            "name": patch,
            "workload": {
                "introspect": "Introspect, 64 concurrent",
                "refresh": "gRPC Refresh, 32 users",
                "login": "login storm (8 concurrent) + Introspect probe",
            }[workload],
            "what": DESCRIPTIONS[patch],
            "metric": metric,
            "ratio": summary(values),
        }
        for metric, values in metrics.items()
    ]


async def run(repeats: int, duration: float, only: list[str]) -> dict[str, Any]:
    pin(CLIENT_CPUS)
    rows: list[dict[str, Any]] = []
    for patch in only:
        got = await one(patch, repeats, duration)
        for row in got:
            print(f"  {patch}: {row['metric']} B/A {fmt_ratio(row['ratio'])}", flush=True)
        rows += got
    data = {
        "command": f"python -m bench.experiments --repeats {repeats} --duration {duration} "
        f"--only {','.join(only)}",
        "settings": {"repeats": repeats, "duration_s": duration},
        "results": rows,
    }
    save("experiments", data)
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--quick", action="store_true", help="2 repeats of 2 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration = 2, 2.0
    data = asyncio.run(run(args.repeats, args.duration, args.only.split(",")))
    for row in data["results"]:
        print(f"{row['name']:18} {row['metric']:18} B/A {fmt_ratio(row['ratio'])}")


if __name__ == "__main__":
    main()
