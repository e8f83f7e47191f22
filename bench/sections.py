"""The sections of docs/PERFORMANCE.md, one per benchmark, each written from its results.

A section says how its benchmark measured (from the results' command and settings) and shows
the figures; every verdict in it comes from the targets table (bench.targets).
"""

from __future__ import annotations

from typing import Any

from bench._common import SERVER_CPUS, fmt_num, fmt_ratio
from bench.sections_floors import edge_floor_remark, rotation_floor_text
from bench.targets import (
    CACHED_VS_RAW,
    INTROSPECT_P99,
    INTROSPECT_THROUGHPUT,
    LOGINS_VS_PARALLEL,
    STORM_P99,
    VERIFIER_VS_PYJWT,
    VERIFIER_VS_RAW,
)


def md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def section_verify(data: dict[str, Any] | None) -> str:
    if data is None:
        return "## 1. Offline verification\n\nNot run yet: `python -m bench.verify`.\n"
    rows = []
    judged = [t.cells(data) for t in (VERIFIER_VS_RAW, VERIFIER_VS_PYJWT, CACHED_VS_RAW)]
    for alg, r in data["results"].items():
        q = r["ratios"]
        us = r["microseconds_per_token"]
        vs_raw, vs_pyjwt, cached = (cells[alg] for cells in judged)
        rows.append(
            [
                alg,
                vs_raw,
                vs_pyjwt,
                fmt_ratio(q["verifier_nocache_vs_raw"]),
                cached,
                fmt_ratio(q["pyjwt_vs_raw"]),
                f"{us['raw']['median']:.0f} / {us['verifier']['median']:.0f} / "
                f"{us['cached']['median']:.1f}",
            ]
        )
    s = data["settings"]
    return f"""## 1. Offline verification (`identity.verify`)

Command: `{data["command"]}` ({s["repeats"]} repeats × {s["batch"]} never-seen tokens per
contender and algorithm, contenders in shuffled order within a repeat, process pinned to core
{s["pinned_cpus"]}). A ratio is *floor time ÷ contender time* per token within one repeat
(> 1: faster than the floor). Floor (`raw`): `cryptography`'s `public_key.verify` on the signing
input and signature already split and decoded (ES256 already in DER) outside the timing.
`pyjwt`: `jwt.decode(token, key, algorithms=[alg], audience=…, issuer=…)` with the key object
preloaded. `Verifier`: as shipped (claims cache on, so a first-seen token also pays the cache
insert), with an in-memory revocation view; `cache off`: `cache_size=0`. `cached`: 64 tokens
already verified, cycled (every call a hit: expiry, key and revocations re-checked).

{
        md_table(
            [
                "alg",
                f"Verifier ÷ raw (target {VERIFIER_VS_RAW.bar_text})",
                f"Verifier vs PyJWT (target {VERIFIER_VS_PYJWT.bar_text})",
                "cache off ÷ raw",
                f"cached ÷ raw (target {CACHED_VS_RAW.bar_text})",
                "PyJWT ÷ raw",
                "µs/token raw / Verifier / cached (medians, this run)",
            ],
            rows,
        )
    }

![verification ratios](perf/verify_ratios.png)
"""


def section_introspect(data: dict[str, Any] | None) -> str:
    if data is None:
        return "## 2. Introspection RPC\n\nNot run yet: `python -m bench.introspect`.\n"
    rows = []
    throughput, p99 = INTROSPECT_THROUGHPUT.cells(data), INTROSPECT_P99.cells(data)
    for c, r in data["results"].items():
        rows.append(
            [
                c,
                fmt_num(r["echo_throughput"]),
                fmt_num(r["introspect_throughput"]),
                throughput.get(c, fmt_ratio(r["throughput_ratio"])),
                f"{fmt_num(r['echo_p50_ms'], 2)} / {fmt_num(r['echo_p99_ms'], 2)}",
                f"{fmt_num(r['introspect_p50_ms'], 2)} / {fmt_num(r['introspect_p99_ms'], 2)}",
                p99[c],
                f"{fmt_num(r['echo_server_cpu'], 2)} / {fmt_num(r['introspect_server_cpu'], 2)}",
            ]
        )
    s = data["settings"]
    per_call = data.get("sql_per_call") or 0.0
    idle = data.get("sql_idle_per_s")
    idle_text = (
        f" An idle identity sends {idle:.2f} statements/s on its own (revocation catch-up poll, "
        "key reload), so the statements seen during the runs are background work, not calls."
        if idle is not None
        else ""
    )
    return f"""## 2. Introspection RPC (`IdentityService.Introspect`, `service` credential)

Command: `{data["command"]}`. identity (`identity serve`, through `bench.serve_counted`) and
the echo server (a generic `grpc.aio` handler returning its request bytes, no interceptor, on
uvloop as identity is) are
pinned to core {s["server_cpus"]}, the load generator to core {s["client_cpus"]}. {s["tokens"]}
access tokens from real logins are introspected round-robin; the echo call carries the same
bytes and metadata. Closed loop, {s["warmup_s"]} s warm-up, {s["duration_s"]} s measured per run,
{s["repeats"]} repeats with echo and Introspect in shuffled order; ratios within a repeat.
Server CPU is the server process's CPU time over the run (cores).

{
        md_table(
            [
                "concurrency",
                "echo calls/s",
                "Introspect calls/s",
                f"throughput ratio (target {INTROSPECT_THROUGHPUT.bar_text} at 64)",
                "echo p50 / p99 ms",
                "Introspect p50 / p99 ms",
                f"p99 ratio (target {INTROSPECT_P99.bar_text})",
                "server CPU echo / identity",
            ],
            rows,
        )
    }

Database statements sent by identity during the {data["introspect_calls"]} Introspect calls:
**{data["sql_statements"]}** ({per_call:.4f} per call; counted by a SQLAlchemy
`before_cursor_execute` listener in the identity process).{idle_text}

![Introspect throughput](perf/introspect_throughput.png)
![Introspect latency](perf/introspect_latency.png)
"""


def section_refresh(data: dict[str, Any] | None) -> str:
    if data is None:
        return "## 3. Refresh rotation\n\nNot run yet: `python -m bench.refresh`.\n"
    rows = []
    for n, r in data["results"].items():

        def cell(name: str, r: dict[str, Any] = r) -> str:
            if name not in r:
                return "—"
            x = r[name]
            return (
                f"{fmt_num(x['throughput'])}/s; {fmt_num(x['p50_ms'], 1)} / "
                f"{fmt_num(x['p99_ms'], 1)} ms"
            )

        rows.append(
            [
                n,
                cell("edge"),
                cell("grpc"),
                cell("pg"),
                cell("echo"),
                fmt_ratio(r["grpc_vs_pg"]),
                fmt_ratio(r["echo_vs_pg"]) if "echo_vs_pg" in r else "—",
                fmt_ratio(r["edge_vs_pg"]) if "edge_vs_pg" in r else "—",
                fmt_ratio(r["edge_vs_grpc"]) if "edge_vs_grpc" in r else "—",
                fmt_num(r["grpc"]["server_cpu"], 2),
            ]
        )
    s = data["settings"]
    notes = "\n".join(f"* {n}" for n in data.get("notes", []))
    errors = {
        n: {k: r[k]["errors"] for k in ("edge", "grpc", "pg", "echo", "floor") if k in r}
        for n, r in data["results"].items()
    }
    stmts = "\n".join(f"    {x}" for x in data["statements_per_rotation"])
    return f"""## 3. Refresh rotation (HTTP edge → gRPC → PostgreSQL)

Command: `{data["command"]}`. Each virtual user owns one session and rotates its own chain in a
closed loop. identity, the edge and the echo server (bench/echo.py: a grpc.aio handler
answering its request bytes on uvloop as identity does, the floor of any Python gRPC server;
same request bytes and metadata) are pinned to core {s["server_cpus"]}, the load generator and
the asyncpg ceiling loop to core {s["client_cpus"]}; PostgreSQL is not pinned. {s["repeats"]}
repeats × {s["duration_s"]} s (after {s["warmup_s"]} s warm-up) per contender, shuffled within a
repeat. The PostgreSQL ceiling runs the same statements per rotation as identity (compiled
from identity's own prebuilt statements, each in autocommit as identity sends them; results
recorded before 2026-12-07 ran the earlier five round trips: BEGIN, three statements, COMMIT),
pool {s["pg_pool"]}:

{stmts}

{
        md_table(
            [
                "users",
                "edge: rotations/s; p50 / p99",
                "gRPC Refresh: rotations/s; p50 / p99",
                "PostgreSQL ceiling: rotations/s; p50 / p99",
                "gRPC echo (no work): calls/s; p50 / p99",
                "gRPC ÷ ceiling",
                "echo ÷ ceiling",
                "edge ÷ ceiling",
                "edge ÷ gRPC",
                "identity CPU (cores) under gRPC load",
            ],
            rows,
        )
    }

{rotation_floor_text(data)}
Errors (all repeats): `{errors}`. The ratio to the ceiling says how much of PostgreSQL's
capacity for these statements identity turns into rotations (issue 19's bar: the summary
above).
{notes}

![Refresh throughput](perf/refresh_throughput.png)
![Refresh latency](perf/refresh_latency.png)
"""


def section_login(data: dict[str, Any] | None) -> str:
    if data is None:
        return "## 4. Login under load\n\nNot run yet: `python -m bench.login`.\n"
    r = data["results"]
    s = data["settings"]
    rows = [
        [
            "logins/s ÷ measured parallel hash rate (one thread per core)",
            fmt_ratio(r["logins_vs_parallel"]),
            LOGINS_VS_PARALLEL.bar_text,
            LOGINS_VS_PARALLEL.verdict(r["logins_vs_parallel"]),
        ],
        [
            "logins/s ÷ Argon2id ceiling (cores ÷ hash time)",
            fmt_ratio(r["logins_vs_ceiling"]),
            "—",
            "",
        ],
        [
            "logins/s ÷ CPU-bound rate (cores ÷ whole-machine CPU per login)",
            fmt_ratio(r["logins_vs_cpu_bound"]) if "logins_vs_cpu_bound" in r else "not measured",
            "—",
            "",
        ],
        [
            "Introspect p99 during the storm ÷ idle p99",
            fmt_ratio(r["p99_storm_vs_idle"]),
            STORM_P99.bar_text,
            STORM_P99.verdict(r["p99_storm_vs_idle"]),
        ],
    ]
    return f"""## 4. Login under load

Command: `{data["command"]}`. Argon2id {s["argon2"]} (identity's defaults), hash pool
{s["hash_workers"]}. identity is *not* pinned ({s["cores"]} cores: hashing is built to use every
core); the load generator is pinned to core {s["client_cpus"]} while driving load and measures
the ceiling with argon2-cffi directly while identity is idle, just before and just after every
storm (the median hash time over at least 1.5 s each time; the repeat uses the mean of the
two){_drift(r)}. Storm:
{s["concurrency"]} concurrent logins ({s["users"]} users, each login a new session), closed
loop, {s["duration_s"]} s; introspection probe: one call at a time, paced at
{s["probe_rate_per_s"]:.0f}/s, alone and then during the storm. {s["repeats"]} repeats.

{md_table(["measure", "ratio (median, min–max)", "target", ""], rows)}

Measured in the same repeats: logins {fmt_num(r["logins_per_s"], 1)}/s; one hash
{fmt_num(r["hash_time_s"], 1, 1e3)} ms → ceiling {fmt_num(r["ceiling_per_s"], 1)}/s, parallel
rate {fmt_num(r["parallel_per_s"], 1)}/s; login p50 / p99 {fmt_num(r["login_p50_ms"], 0)} /
{fmt_num(r["login_p99_ms"], 0)} ms; Introspect p99 idle {fmt_num(r["idle_p99_ms"], 2)} ms,
during the storm {fmt_num(r["storm_p99_ms"], 2)} ms; identity CPU
{fmt_num(r["server_cpu_cores"], 2)} cores.
{_login_cpu(r)}"""


def _drift(r: dict[str, Any]) -> str:
    if "ceiling_drift" not in r:
        return ""
    return f"; the ceiling after ÷ before the storm: {fmt_ratio(r['ceiling_drift'])}"


def _login_cpu(r: dict[str, Any]) -> str:
    if "machine_ms_per_login" not in r:
        return ""
    return f"""
Where each login's CPU goes (from `/proc`, over the storm's measured window): identity's Argon2
threads (told apart by their nice value) {fmt_num(r["hash_ms_per_login"], 1)} ms, the rest of
identity (event loop, gRPC, SQLAlchemy, signing) {fmt_num(r["identity_other_ms_per_login"], 1)} ms,
the whole machine (identity, PostgreSQL, the load generator, the kernel)
{fmt_num(r["machine_ms_per_login"], 1)} ms. Were every core busy with logins at that cost, the
machine would do {fmt_num(r["cpu_bound_per_s"], 1)} logins/s: the ceiling `cores ÷ hash time`
assumes the rest costs nothing.
"""


def section_scaling(data: dict[str, Any] | None) -> str:
    if data is None:
        return "## 5. Scaling out\n\nNot run yet: `python -m bench.scaling`.\n"
    rows = []
    for name, r in data["results"].items():
        rows.append(
            [
                name,
                f"{fmt_num(r['throughput_1'])}/s, p99 {fmt_num(r['p99_ms_1'], 1)} ms, "
                f"CPU {fmt_num(r['server_cpu_1'], 2)}",
                f"{fmt_num(r['throughput_2'])}/s, p99 {fmt_num(r['p99_ms_2'], 1)} ms, "
                f"CPU {fmt_num(r['server_cpu_2'], 2)}",
                fmt_ratio(r["throughput_ratio"]),
            ]
        )
    s = data["settings"]
    return f"""## 5. Scaling out: 1 and 2 identity processes on one PostgreSQL

Command: `{data["command"]}`. Pinning: {s["pinning"]}. Refresh with {s["refresh_users"]} users
(user i → process i mod 2), Introspect at concurrency {s["introspect_concurrency"]};
{s["repeats"]} repeats × {s["duration_s"]} s, configurations alternating in order.

{md_table(["workload", "1 process", "2 processes", "2 ÷ 1 throughput"], rows)}

On 2 cores the second process competes with the load generator and PostgreSQL for the same
cores, so the ratio is an upper bound on this machine, not a scaling law.
"""


def section_experiments(data: dict[str, Any] | None) -> str:
    if data is None:
        return ""
    rows = []
    for e in data["results"]:
        rows.append([e["name"], e["workload"], e["what"], fmt_ratio(e["ratio"]), e["metric"]])
    return f"""## Experiments behind the fix proposals

Command: `{data["command"]}`. Each experiment starts two identity processes on one database,
one unchanged and one with a monkeypatch applied by `bench.serve_counted`
(`BENCH_EXPERIMENTS`), both pinned to core {list(SERVER_CPUS)}, and alternates the same load
between them, {data["settings"]["repeats"]} repeats × {data["settings"]["duration_s"]} s.
The patches only exist to measure; the proposed changes belong in the files named.

{
        md_table(
            ["experiment", "workload", "change", "patched ÷ unchanged (median, min–max)", "metric"],
            rows,
        )
    }
"""


def section_edge_servers(data: dict[str, Any] | None) -> str:
    if data is None:
        return "## 6. The edge's HTTP server\n\nNot run yet: `python -m bench.edge_servers`.\n"
    rows = []
    for name, r in data["results"].items():
        held = [k.replace("_", " ") for k, v in r["limits"].items() if v]
        rows.append(
            [
                name,
                "— (not an edge)" if name == "floor" else "; ".join(held) or "none",
                f"{fmt_num(r['edge_cpu_ms_per_refresh'], 3)}",
                fmt_ratio(r["edge_cpu_vs_baseline"]),
                f"{fmt_num(r['throughput'])}/s",
                fmt_ratio(r["throughput_vs_baseline"]),
                fmt_num(r["p99_ms"], 1),
            ]
        )
    s = data["settings"]
    header = ["server", "limits held", "edge CPU ms/refresh", "÷ uvicorn-httptools"]
    header += ["refreshes/s", "÷ uvicorn-httptools", "p99 ms"]
    return f"""## 6. The edge's HTTP server: limits held and CPU per refresh

Command: `{data["command"]}`. One identity and four edges, each the same app on another server,
and the floor (`bench/edge_floor.py`: one raw ASGI function on uvicorn-httptools and uvloop that
reads the cookie, makes the edge's one gRPC `Refresh` call and answers; no checks, no metrics, no
limits), {s["users"]} refresh chains each, {s["repeats"]} repeats × {s["duration_s"]} s interleaved
(shuffled); the edge's CPU is its processes' user + system time over the measured window ÷
refreshes. Limits probed first, head timeout {s["head_timeout_s"]} s: a 1 MiB header that never
ends must be answered and closed, a silent connection closed.

{md_table(header, rows)}

The edge runs on uvicorn with httptools and `edge_http/limited_httptools.py`: the only contender
here holding both limits, and the least CPU per refresh. h11 (uvicorn's or hypercorn's) and
granian cap the head size but let a silent connection stay open past the timeout.
{edge_floor_remark(data["results"])}"""
