"""Login under load against the Argon2id ceiling, and introspection latency during the storm.

    python -m bench.login [--repeats 3] [--duration 5] [--concurrency 8] [--quick]

The ceiling is `cores ÷ hash time`: the time of one argon2-cffi `PasswordHasher.verify` at
identity's configured parameters (IDENTITY_ARGON2_*: defaults m=19456 KiB, t=2, p=1), measured
in this process, sequentially (the median over at least 1.5 s), just before and just after each
storm; the repeat's ceiling is the mean of the two (the host's speed drifts within minutes: the
after ÷ before ratio is kept as `ceiling_drift`). The parallel rate (one thread per core,
argon2-cffi releases the GIL) is recorded beside it, averaged the same way.

identity (`identity serve`, hash pool of one worker per core) is *not* pinned here: password
hashing is the one part built to use every core, so it gets both. The load generator is pinned
to core 0 while it drives load (it is light: a few dozen calls per second) and unpinned while it
measures the ceiling (identity idle then). PostgreSQL is not pinned.

Per repeat: (1) the ceiling (before); (2) introspection alone, paced at 50 calls/s, one at a
time, for `duration` s: its idle p50/p99; (3) the storm: `concurrency` workers logging in (16
users, a new session per login) in a closed loop for `duration` s while the same introspection
probe runs; (4) the ceiling (after). Ratios within the repeat: logins/s ÷ ceiling, storm p99 ÷ idle
p99.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from typing import Any

from argon2 import PasswordHasher
from argon2.low_level import Type

from bench._common import ALL_CPUS, CLIENT_CPUS, N_CPUS, fmt_num, fmt_ratio, pin, summary
from bench.introspect import INTROSPECT, introspect_setup
from bench.load import cycling, storm_beside_probe
from bench.procfs import machine_busy_seconds, thread_cpu_seconds
from bench.runner import run_benchmark
from bench.stack import PASSWORD, IdentityStack, emails, metadata, register
from bench.targets import bars, console_line
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc

# The command line: --name value for each flag; --quick (a smoke run) sets QUICK instead.
FLAGS: dict[str, Any] = {"repeats": 3, "duration": 5.0, "concurrency": 8}
QUICK: dict[str, Any] = {"repeats": 2, "duration": 3.0}

PROBE_RATE = 50.0


def argon2_params() -> dict[str, int]:
    return {
        "memory_cost": int(os.environ.get("IDENTITY_ARGON2_MEMORY_KIB", 19456)),
        "time_cost": int(os.environ.get("IDENTITY_ARGON2_TIME_COST", 2)),
        "parallelism": int(os.environ.get("IDENTITY_ARGON2_PARALLELISM", 1)),
    }


def measure_ceiling(samples: int = 8, min_seconds: float = 1.5) -> dict[str, float]:
    """Sequential verify time (the median of at least `samples` hashes and `min_seconds`: the
    host's speed drifts by a third within minutes, and eight hashes are a quarter of a second),
    and the rate of one verifying thread per core."""
    pin(ALL_CPUS)
    try:
        hasher = PasswordHasher(type=Type.ID, **argon2_params())
        encoded = hasher.hash(PASSWORD)
        times: list[float] = []
        until = time.perf_counter() + min_seconds
        while len(times) < samples or time.perf_counter() < until:
            started = time.perf_counter()
            hasher.verify(encoded, PASSWORD)
            times.append(time.perf_counter() - started)
        hash_time = statistics.median(times)
        done = [0] * N_CPUS
        stop = time.perf_counter() + max(1.0, 4 * hash_time * samples / N_CPUS)

        def spin(i: int) -> None:
            while time.perf_counter() < stop:
                hasher.verify(encoded, PASSWORD)
                done[i] += 1

        began = time.perf_counter()
        threads = [threading.Thread(target=spin, args=(i,)) for i in range(N_CPUS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        parallel = sum(done) / (time.perf_counter() - began)
    finally:
        pin(CLIENT_CPUS)
    return {
        "hash_time_s": hash_time,
        "ceiling_per_s": N_CPUS / hash_time,
        "parallel_per_s": parallel,
    }


async def measure(args: argparse.Namespace, users: int = 16) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    async with IdentityStack(cpus=ALL_CPUS) as stack:
        channel = stack.channels[0]
        requests, service_md = await introspect_setup(stack, channel)
        probe = cycling(channel.unary_unary(INTROSPECT), requests, service_md)
        accounts = emails("storm", users)
        await register(channel, stack.credentials["edge"], accounts)
        login = cycling(
            identity_pb2_grpc.IdentityServiceStub(channel).Login,
            [pb.LoginRequest(email=e, password=PASSWORD, client_id="web") for e in accounts],
            metadata(stack.credentials["edge"]),
        )
        for _ in range(args.repeats):
            before = measure_ceiling()
            # Called by closed_loop at the start and the end of the storm's measured window.
            snapshots: list[tuple[dict[int, tuple[int, float]], float]] = []

            def cpu_probe(snapshots: list[Any] = snapshots) -> float:
                snapshots.append((thread_cpu_seconds(stack.servers[0].pid), machine_busy_seconds()))
                return stack.server_cpu_seconds()

            idle, during, storm = await storm_beside_probe(
                login, probe, args.concurrency, args.duration, PROBE_RATE, cpu_probe
            )
            # The ceiling on both sides of the storm, averaged: the host's speed drifts.
            after = measure_ceiling()
            ceiling = {k: (before[k] + after[k]) / 2 for k in before}
            ceiling["ceiling_drift"] = after["ceiling_per_s"] / before["ceiling_per_s"]
            (threads_before, busy_before), (threads_after, busy_after) = snapshots
            split = _cpu_split(threads_before, threads_after, storm.calls)
            split["machine_ms_per_login"] = (busy_after - busy_before) / max(storm.calls, 1) * 1e3
            # What the whole machine could do if every login cost what this run measured.
            split["cpu_bound_per_s"] = N_CPUS / (split["machine_ms_per_login"] / 1e3)
            rows.append(
                {
                    **ceiling,
                    "logins_per_s": storm.throughput,
                    "login_p50_ms": storm.p(50) * 1e3,
                    "login_p99_ms": storm.p(99) * 1e3,
                    "login_errors": storm.error_kinds,
                    "server_cpu_cores": storm.server_cpu,
                    "idle_p50_ms": idle.p(50) * 1e3,
                    "idle_p99_ms": idle.p(99) * 1e3,
                    "storm_p50_ms": during.p(50) * 1e3,
                    "storm_p99_ms": during.p(99) * 1e3,
                    "probe_errors": idle.errors + during.errors,
                    "logins_vs_ceiling": storm.throughput / ceiling["ceiling_per_s"],
                    "logins_vs_parallel": storm.throughput / ceiling["parallel_per_s"],
                    "p99_storm_vs_idle": during.p(99) / idle.p(99),
                    **split,
                    "logins_vs_cpu_bound": storm.throughput / split["cpu_bound_per_s"],
                }
            )
            print(f"  login repeat: {_row_line(rows[-1])}", flush=True)
    keys = [k for k in rows[0] if isinstance(rows[0][k], float)]
    return {
        "settings": {
            "repeats": args.repeats,
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "users": users,
            "probe_rate_per_s": PROBE_RATE,
            "argon2": argon2_params(),
            "cores": N_CPUS,
            "server_cpus": list(ALL_CPUS),
            "client_cpus": list(CLIENT_CPUS),
            "hash_workers": "identity default (one per core)",
        },
        "targets": bars("login"),
        "repeats": rows,
        "results": {k: summary([r[k] for r in rows]) for k in keys},
    }


def _cpu_split(
    before: dict[int, tuple[int, float]], after: dict[int, tuple[int, float]], logins: int
) -> dict[str, float]:
    """identity's CPU per login: its Argon2 pool threads (the ones running nicer than the
    process's main thread) apart from everything else it runs."""
    main_nice = min(nice for nice, _ in after.values())
    hashing = other = 0.0
    for tid, (nice, seconds) in after.items():
        spent = seconds - before.get(tid, (nice, 0.0))[1]
        if nice > main_nice:
            hashing += spent
        else:
            other += spent
    per = 1e3 / max(logins, 1)
    return {"hash_ms_per_login": hashing * per, "identity_other_ms_per_login": other * per}


def _row_line(r: dict[str, Any]) -> str:
    return (
        f"logins {r['logins_per_s']:.1f}/s, ceiling {r['ceiling_per_s']:.1f}/s "
        f"(hash {r['hash_time_s'] * 1e3:.1f} ms; parallel {r['parallel_per_s']:.1f}/s) → "
        f"{r['logins_vs_ceiling']:.2f}; introspect p99 idle {r['idle_p99_ms']:.2f} ms, storm "
        f"{r['storm_p99_ms']:.2f} ms → {r['p99_storm_vs_idle']:.2f}; errors {r['login_errors']}; "
        f"CPU per login: hash {r['hash_ms_per_login']:.1f} ms, identity other "
        f"{r['identity_other_ms_per_login']:.1f} ms, machine {r['machine_ms_per_login']:.1f} ms"
    )


def report(data: dict[str, Any]) -> str:
    r = data["results"]
    return "\n".join(
        [
            f"logins/s {fmt_num(r['logins_per_s'], 1)} vs ceiling "
            f"{fmt_num(r['ceiling_per_s'], 1)} (cores/hash time; hash "
            f"{fmt_num(r['hash_time_s'], 1, 1e3)} ms): ratio {fmt_ratio(r['logins_vs_ceiling'])}"
            f"; vs measured parallel rate {fmt_ratio(r['logins_vs_parallel'])}",
            f"introspection p99 idle {fmt_num(r['idle_p99_ms'], 2)} ms, during storm "
            f"{fmt_num(r['storm_p99_ms'], 2)} ms: ratio {fmt_ratio(r['p99_storm_vs_idle'])}",
            f"CPU per login: Argon2 threads {fmt_num(r['hash_ms_per_login'], 1)} ms, the rest of "
            f"identity {fmt_num(r['identity_other_ms_per_login'], 1)} ms, whole machine "
            f"{fmt_num(r['machine_ms_per_login'], 1)} ms → CPU-bound rate "
            f"{fmt_num(r['cpu_bound_per_s'], 1)}/s; logins/s ÷ that "
            f"{fmt_ratio(r['logins_vs_cpu_bound'])}",
            console_line("login"),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    run_benchmark("login", __doc__, argv, measure, report, QUICK, **FLAGS)


if __name__ == "__main__":
    main()
