"""The sections of docs/PERFORMANCE.md on capacity: worker processes, and logins under overload."""

from __future__ import annotations

from typing import Any

from bench._common import fmt_num
from bench.internals import DEFAULT_HASH_QUEUE
from bench.sections import md_table
from bench.targets import (
    OVERLOAD_429,
    OVERLOAD_SCALING,
    OVERLOAD_VS_PARALLEL,
    REFUSAL_CPU,
    REFUSAL_DECISION,
    WORKERS_SCALING,
)


def section_workers(data: dict[str, Any] | None) -> str:
    title = "## 5b. Every core: `identity serve --workers`"
    if data is None:
        return f"{title}\n\nNot run yet: `python -m bench.workers`.\n"
    s = data["settings"]
    ratios = WORKERS_SCALING.cells(data)
    rows = []
    for name, r in data["results"].items():
        rows.append(
            [name]
            + [
                f"{fmt_num(r[f'throughput_{n}'])}/s, p99 {fmt_num(r[f'p99_ms_{n}'], 1)} ms; "
                f"identity {fmt_num(r[f'server_cpu_{n}'], 2)} cores "
                f"({fmt_num(r[f'cpu_ms_per_call_{n}'], 2)} ms a call), generator "
                f"{fmt_num(r[f'generator_cpu_{n}'], 2)}"
                for n in (1, 2)
            ]
            + [ratios[name], fmt_num(r["busiest_worker_share_2"], 2)]
        )
    header = ["workload", "1 worker", "2 workers", "2 ÷ 1 throughput", "busiest worker's share"]
    return f"""{title}

Command: `{data["command"]}`. One `identity serve` with IDENTITY_WORKERS=1 and one with
IDENTITY_WORKERS=2 on the same database, alternating; the load generator opens
{s["connections"]} connections to each (the kernel gives each connection to one worker).
Pinning: {s["pinning"]}. Refresh with {s["refresh_users"]} users, Introspect at concurrency
{s["introspect_concurrency"]}; {s["repeats"]} repeats × {s["duration_s"]} s. CPU in cores over
the measured window, from `/proc`: identity's (the parent and its workers) and the load
generator's own, so that the split of the {s["cores"]} cores is visible.

{md_table(header, rows)}
"""


def section_login_overload(data: dict[str, Any] | None) -> str:
    title = "## 4b. Login overload through the edge"
    if data is None:
        return f"{title}\n\nNot run yet: `python -m bench.login_overload`.\n"
    s = data["settings"]
    versus = OVERLOAD_SCALING.cells(data)
    parallel = OVERLOAD_VS_PARALLEL.cells(data)
    refused = dict(OVERLOAD_429.rows(data))
    rows = []
    for n, r in data["results"]["clients"].items():
        rows.append(
            [
                n,
                fmt_num(r["logins_per_s"], 1),
                fmt_num(r["refused_429"])
                + (" " + OVERLOAD_429.verdict(refused[n]) if n in refused else ""),
                f"{fmt_num(r['p50_ms'])} / {fmt_num(r['p99_ms'])}",
                parallel.get(n, ""),
                versus.get(n, "—"),
                f"{fmt_num(r['identity_cpu'], 2)} / {fmt_num(r['edge_cpu'], 2)} / "
                f"{fmt_num(r['generator_cpu'], 2)}",
            ]
        )
    header = [
        "clients",
        "logins/s",
        "429 answers",
        "p50 / p99 ms",
        "÷ parallel-hash rate",
        "÷ fewest clients",
        "CPU: identity / edge / generator",
    ]
    f = data["results"]["refusal"]
    edge_us, direct_us = fmt_num(f["edge_us_per_refusal"]), fmt_num(f["direct_us_per_refusal"])
    by_identity, by_edge = fmt_num(f["refused_by_identity"]), fmt_num(f["refused_by_edge"])
    refusing = ", ".join(f"`{k}={v}`" for k, v in s["refusing_identity"].items())
    cpus = s["client_cpus"]
    return f"""{title}

Command: `{data["command"]}`. `POST /auth/login` through the edge, a closed loop per client
over {s["accounts"]} accounts, identity on its defaults (one worker process per core, each with
one hash thread per core and a queue of {DEFAULT_HASH_QUEUE} logins, hash threads at nice +10);
nothing pinned but the load generator (core {cpus}). A refused client tries again at once (it
ignores `Retry-After`), the harshest case. {s["repeats"]} repeats × {s["duration_s"]} s.

{md_table(header, rows)}

What a refusal costs, measured on a second identity that refuses nearly every login
({refusing}), behind its own edge, at the most clients: identity
{REFUSAL_CPU.judged(f["identity_us_per_refusal"])} µs of CPU per refused login (its threads
other than the hash thread, over the 429 answers), the edge {edge_us} µs per 429. Of the 429s,
identity gave {by_identity} and the edge {by_edge} itself, without calling identity, while
identity's hash queue was known full (`edge_http/hash_admission.py`). identity refusing every
gRPC Login itself (no edge in front): {direct_us} µs each, a whole gRPC call; the decision alone
{REFUSAL_DECISION.judged(f["decision_us"])} µs.
"""
