"""Introspection RPC throughput and latency against a bare grpc.aio echo server, same run.

    python -m bench.introspect [--repeats 5] [--duration 3] [--concurrency 1,16,64] [--quick]

Stack: a throwaway PostgreSQL database; `identity serve` (through bench.serve_counted, which
adds a SQL statement counter) pinned to the last core; the echo server (bench.echo, a generic
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
import time
from typing import Any

import grpc.aio

from bench._common import CLIENT_CPUS, SERVER_CPUS, fmt_num, fmt_ratio
from bench.echo import ECHO_METHOD, start_echo
from bench.load import RunResult, cycling
from bench.runner import closed_loops, ints, ratio, run_benchmark, shuffled, stats
from bench.stack import IdentityStack, metadata, register_and_login
from bench.targets import bars, console_line
from identity.v1 import identity_pb2 as pb

# The command line: --name value for each flag; --quick (a smoke run) sets QUICK instead.
FLAGS: dict[str, Any] = {"repeats": 5, "duration": 3.0, "concurrency": "1,16,64"}
QUICK: dict[str, Any] = {"repeats": 2, "duration": 1.5}

INTROSPECT = "/identity.v1.IdentityService/Introspect"
IDLE_WINDOW = 10.0


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


async def measure(args: argparse.Namespace, seed: int = 2) -> dict[str, Any]:
    concurrencies = ints(args.concurrency)
    order = shuffled(random.Random(seed), ["echo", "introspect"])
    async with IdentityStack() as stack:
        echo_proc, echo_channel = await start_echo()
        try:
            channel = stack.channels[0]
            requests, md = await introspect_setup(stack, channel)
            # Bytes in, bytes out on both: no client codec in the timing.
            introspect = cycling(channel.unary_unary(INTROSPECT), requests, md)
            echo = cycling(echo_channel.unary_unary(ECHO_METHOD), requests, md)
            sql_before = stack.sql_statements()
            window_started = time.monotonic()
            per_conc: dict[str, Any] = {}
            introspect_calls = 0
            for conc in concurrencies:
                runs = await closed_loops(
                    {
                        "echo": (echo, echo_proc.cpu_seconds),
                        "introspect": (introspect, stack.server_cpu_seconds),
                    },
                    conc,
                    args.duration,
                    args.repeats,
                    order,
                )
                introspect_calls += sum(r.calls + r.errors for r in runs["introspect"])
                per_conc[str(conc)] = _summarise(runs["echo"], runs["introspect"])
                print(f"  introspect c={conc}: {_line(per_conc[str(conc)])}", flush=True)
            await asyncio.sleep(0.5)  # the counter file is written every 50 ms
            sql = stack.sql_statements() - sql_before
            sql_window = time.monotonic() - window_started
            idle_before = stack.sql_statements()  # background statements of an idle identity
            await asyncio.sleep(IDLE_WINDOW)
            sql_idle_per_s = (stack.sql_statements() - idle_before) / IDLE_WINDOW
        finally:
            await echo_channel.close()
            echo_proc.stop()
    return {
        "settings": {
            "repeats": args.repeats,
            "duration_s": args.duration,
            "warmup_s": 0.5,
            "concurrencies": list(concurrencies),
            "server_cpus": list(SERVER_CPUS),
            "client_cpus": list(CLIENT_CPUS),
            "tokens": 8,
        },
        "targets": bars("introspect"),
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


def _summarise(echo: list[RunResult], intro: list[RunResult]) -> dict[str, Any]:
    return {
        "echo": {k: [r.as_dict()[k] for r in echo] for k in echo[0].as_dict()},
        "introspect": {k: [r.as_dict()[k] for r in intro] for k in intro[0].as_dict()},
        "throughput_ratio": ratio(intro, echo),
        "p50_ratio": ratio(intro, echo, "p50_ms"),
        "p99_ratio": ratio(intro, echo, "p99_ms"),
        **{f"echo_{k}": v for k, v in stats(echo).items()},
        **{f"introspect_{k}": v for k, v in stats(intro).items()},
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
    lines.append(console_line("introspect"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run_benchmark("introspect", __doc__, argv, measure, report, QUICK, **FLAGS)


if __name__ == "__main__":
    main()
