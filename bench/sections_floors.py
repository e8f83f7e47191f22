"""The floors the benchmarks measure beside our servers: what the stack costs with nothing of ours
(bench/edge_floor.py for the edge, bench/rotation_floor.py for identity's rotation)."""

from __future__ import annotations

from typing import Any

from bench._common import fmt_num, fmt_ratio

# Issue 19: the edge's own CPU per rotation, ms (targets.py holds the combined identity + edge bar).
EDGE_CPU_BAR_MS = 0.5


def edge_floor_remark(results: dict[str, Any]) -> str:
    floor, edge = results.get("floor"), results.get("uvicorn-httptools")
    if floor is None or edge is None:
        return ""
    lowest = floor["edge_cpu_ms_per_refresh"]["median"]
    added = edge["edge_cpu_ms_per_refresh"]["median"] - lowest
    bar = EDGE_CPU_BAR_MS
    verdict = "below this floor" if lowest > bar else "above this floor"
    return f"""
The floor spends {fmt_num(floor["edge_cpu_ms_per_refresh"], 3)} ms per refresh: the HTTP server,
the gRPC client and their event-loop wake-ups at this rate, with nothing of ours. The shipped edge
adds {added:.3f} ms to it (medians): routing, the four middlewares, CSRF and origin checks,
cookie rules, metrics and problem handling. Issue 19's bar for the edge (≤ {bar} ms per
rotation) is {verdict} on this machine.
"""


HEADER = (
    "| users | floor rotations/s | floor ÷ ceiling | gRPC Refresh ÷ ceiling "
    "| floor CPU ms/rotation | identity CPU ms/rotation |\n|---|---|---|---|---|---|"
)


def rotation_floor_text(data: dict[str, Any]) -> str:
    """bench.refresh's `floor` beside identity: rotations/s, ÷ ceiling, CPU per rotation."""
    rows = []
    for n, r in data["results"].items():
        if "floor" not in r:
            continue
        rows.append(
            f"| {n} | {fmt_num(r['floor']['throughput'])}/s | {fmt_ratio(r['floor_vs_pg'])} "
            f"| {fmt_ratio(r['grpc_vs_pg'])} | {fmt_num(r['floor']['cpu_ms_per_call'], 3)} "
            f"| {fmt_num(r['grpc']['cpu_ms_per_call'], 3)} |"
        )
    if not rows:
        return ""
    table = "\n".join(rows)
    return f"""
The rotation floor (`bench/rotation_floor.py`: a grpc.aio handler on uvloop sending the same two
statements from an asyncpg pool and answering a TokenResponse's worth of bytes; no
authentication, rules, signing or metrics), pinned where identity is, beside identity's gRPC
Refresh in the same repeats (CPU: the server process, per rotation):

{HEADER}
{table}

The floor does only what a rotation cannot skip on this stack; where `floor ÷ ceiling` is below
a bar, code on grpc.aio and asyncpg on one core cannot be expected to reach that bar.
"""
