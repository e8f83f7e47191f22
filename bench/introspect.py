"""Introspection RPC throughput and latency against a bare grpc.aio echo server, same run.

    python -m bench.introspect [--repeats 5] [--duration 3] [--concurrency 1,16,64] [--quick]

Stack: a throwaway PostgreSQL database; `identity serve` (through bench.serve_counted, which
adds a SQL statement counter) pinned to the last core; the echo server (bench.load, a generic
grpc.aio handler returning its request bytes) pinned to the same core; this load generator
pinned to core 0. Eight users log in; their access tokens are introspected round-robin with a
`service` credential. The echo call carries the same bytes and the same metadata.

At each concurrency, every repeat runs echo and Introspect back to back in a shuffled order
(closed loop, 0.5 s warm-up, `duration` s measured, at most 500 000 calls). Ratios are taken
within the repeat: throughput Introspect/echo, p99 Introspect/echo. The statements identity
sends to PostgreSQL are counted over all Introspect runs and divided by the calls.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from typing import Any

import grpc
import grpc.aio

from bench._common import CLIENT_CPUS, SERVER_CPUS, fmt_num, fmt_ratio, pin, save, summary
from bench.load import ECHO_METHOD, RunResult, closed_loop
from bench.stack import IdentityStack, Process, free_port, metadata, register_and_login
from identity.v1 import identity_pb2 as pb

INTROSPECT = "/identity.v1.IdentityService/Introspect"
IDLE_WINDOW = 10.0
TARGETS = {"throughput_ratio_at_64": 0.6, "p99_ratio_max": 2.0, "sql_per_call": 0.0}


async def start_echo(cpus: tuple[int, ...] = SERVER_CPUS) -> tuple[Process, grpc.aio.Channel]:
    port = free_port()
    proc = Process(
        "echo", [sys.executable, "-m", "bench.load", "--port", str(port)], _plain_env(), cpus
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    call = channel.unary_unary(ECHO_METHOD)
    for _ in range(100):
        proc.check()
        try:
            await call(b"ping", timeout=1.0)
            return proc, channel
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.2)
    raise TimeoutError("echo server did not answer")


def _plain_env() -> dict[str, str]:
    import os

    return dict(os.environ)


async def introspect_setup(
    stack: IdentityStack, channel: grpc.aio.Channel, tokens: int = 8
) -> tuple[list[bytes], tuple[tuple[str, str], ...]]:
    """Serialized Introspect requests for fresh access tokens, and the service metadata."""
    logged_in = await register_and_login(channel, stack.credentials["edge"], tokens, "intro")
    requests = [
        pb.IntrospectRequest(
            token=t.access_token, token_type_hint="access_token"
        ).SerializeToString()
        for t in logged_in
    ]
    md = metadata(stack.credentials["service"])
    probe = channel.unary_unary(
        INTROSPECT, request_serializer=None, response_deserializer=pb.IntrospectResponse.FromString
    )
    answer = await probe(requests[0], metadata=md, timeout=5.0)
    if not answer.active:
        raise RuntimeError("Introspect says a fresh access token is inactive")
    return requests, md


async def run(
    repeats: int = 5,
    duration: float = 3.0,
    concurrencies: tuple[int, ...] = (1, 16, 64),
    seed: int = 2,
) -> dict[str, Any]:
    pin(CLIENT_CPUS)
    rng = random.Random(seed)
    async with IdentityStack() as stack:
        await stack.start(servers=1)
        echo_proc, echo_channel = await start_echo()
        try:
            channel = grpc.aio.insecure_channel(stack.targets[0])
            requests, md = await introspect_setup(stack, channel)
            introspect = channel.unary_unary(INTROSPECT)  # bytes in, bytes out: no client codec
            echo = echo_channel.unary_unary(ECHO_METHOD)
            n = len(requests)

            def call_introspect(i: int) -> Any:
                call_introspect.k += 1  # type: ignore[attr-defined]
                return introspect(requests[call_introspect.k % n], metadata=md)  # type: ignore[attr-defined]

            call_introspect.k = 0  # type: ignore[attr-defined]

            def call_echo(i: int) -> Any:
                call_echo.k += 1  # type: ignore[attr-defined]
                return echo(requests[call_echo.k % n], metadata=md)  # type: ignore[attr-defined]

            call_echo.k = 0  # type: ignore[attr-defined]

            sql_before = stack.sql_statements()
            window_started = time.monotonic()
            introspect_calls = 0
            per_conc: dict[str, Any] = {}
            for conc in concurrencies:
                runs: dict[str, list[RunResult]] = {"echo": [], "introspect": []}
                for _ in range(repeats):
                    order = ["echo", "introspect"]
                    rng.shuffle(order)
                    for name in order:
                        if name == "echo":
                            result = await closed_loop(
                                call_echo, conc, duration, cpu_probe=echo_proc.cpu_seconds
                            )
                        else:
                            result = await closed_loop(
                                call_introspect,
                                conc,
                                duration,
                                cpu_probe=stack.server_cpu_seconds,
                            )
                            introspect_calls += result.calls + result.errors
                        runs[name].append(result)
                per_conc[str(conc)] = _summarise(runs)
                print(f"  introspect c={conc}: {_line(per_conc[str(conc)])}", flush=True)
            await asyncio.sleep(0.5)  # the counter file is written every 50 ms
            sql = stack.sql_statements() - sql_before
            sql_window = time.monotonic() - window_started
            idle_before = stack.sql_statements()  # background statements of an idle identity
            await asyncio.sleep(IDLE_WINDOW)
            sql_idle_per_s = (stack.sql_statements() - idle_before) / IDLE_WINDOW
            await channel.close()
        finally:
            await echo_channel.close()
            echo_proc.stop()
    data = {
        "command": f"python -m bench.introspect --repeats {repeats} --duration {duration} "
        f"--concurrency {','.join(map(str, concurrencies))}",
        "settings": {
            "repeats": repeats,
            "duration_s": duration,
            "warmup_s": 0.5,
            "concurrencies": list(concurrencies),
            "server_cpus": list(SERVER_CPUS),
            "client_cpus": list(CLIENT_CPUS),
            "tokens": 8,
        },
        "targets": TARGETS,
        "results": per_conc,
        "sql_statements": sql,
        "introspect_calls": introspect_calls,
        "sql_per_call": sql / introspect_calls if introspect_calls else None,
        "sql_idle_per_s": sql_idle_per_s,
        "sql_idle_window_s": IDLE_WINDOW,
        "sql_window_s": sql_window,
        # Statements beyond what an idle identity sends in the same time, per call.
        "sql_attributable_per_call": max(0.0, sql - sql_idle_per_s * sql_window)
        / max(1, introspect_calls),
    }
    save("introspect", data)
    return data


def _summarise(runs: dict[str, list[RunResult]]) -> dict[str, Any]:
    echo, intro = runs["echo"], runs["introspect"]
    return {
        "echo": {k: [r.as_dict()[k] for r in echo] for k in echo[0].as_dict()},
        "introspect": {k: [r.as_dict()[k] for r in intro] for k in intro[0].as_dict()},
        "throughput_ratio": summary(
            [i.throughput / e.throughput for i, e in zip(intro, echo, strict=True)]
        ),
        "p50_ratio": summary([i.p(50) / e.p(50) for i, e in zip(intro, echo, strict=True)]),
        "p99_ratio": summary([i.p(99) / e.p(99) for i, e in zip(intro, echo, strict=True)]),
        "echo_throughput": summary([e.throughput for e in echo]),
        "introspect_throughput": summary([i.throughput for i in intro]),
        "echo_p50_ms": summary([e.p(50) * 1e3 for e in echo]),
        "echo_p99_ms": summary([e.p(99) * 1e3 for e in echo]),
        "introspect_p50_ms": summary([i.p(50) * 1e3 for i in intro]),
        "introspect_p99_ms": summary([i.p(99) * 1e3 for i in intro]),
        "echo_server_cpu": summary([e.server_cpu for e in echo]),
        "introspect_server_cpu": summary([i.server_cpu for i in intro]),
        "introspect_errors": sum(i.errors for i in intro),
    }


def _line(s: dict[str, Any]) -> str:
    return (
        f"throughput ratio {fmt_ratio(s['throughput_ratio'])}, p99 ratio "
        f"{fmt_ratio(s['p99_ratio'])}; introspect {fmt_num(s['introspect_throughput'])}/s "
        f"p99 {fmt_num(s['introspect_p99_ms'], 2)} ms; echo {fmt_num(s['echo_throughput'])}/s "
        f"p99 {fmt_num(s['echo_p99_ms'], 2)} ms"
    )


def report(data: dict[str, Any]) -> str:
    lines = [f"c={c}: {_line(s)}" for c, s in data["results"].items()]
    lines.append(
        f"SQL statements during {data['introspect_calls']} Introspect calls: "
        f"{data['sql_statements']} ({data['sql_per_call']:.4f} per call); idle identity: "
        f"{data['sql_idle_per_s']:.2f} statements/s"
    )
    lines.append("targets: throughput ratio at 64 >= 0.6, p99 ratio <= 2, 0 statements per call")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--quick", action="store_true", help="2 repeats of 1.5 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.duration = 2, 1.5
    conc = tuple(int(c) for c in args.concurrency.split(","))
    print(report(asyncio.run(run(args.repeats, args.duration, conc))))


if __name__ == "__main__":
    main()
