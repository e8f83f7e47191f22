"""The one table of performance targets: each ratio the report judges, where it comes from in
the results, its bar and its verdict. Benchmarks record the bars they ran against from here;
bench.report writes the summary table, the section verdicts and the plots' bar lines from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from bench._common import fmt_ratio
from bench.internals import DEFAULT_HASH_QUEUE

Data = dict[str, Any]
Stats = dict[str, float]
# From one benchmark's results: (row key, the ratio's median and min–max) for each row.
Rows = Callable[[Data], list[tuple[str, Stats]]]


def _each(field: str, under: str = "") -> Rows:
    """`results[key][field]` (or `results[key][under][field]`) for every key of the results."""
    return lambda d: [
        (k, (r[under] if under else r)[field])
        for k, r in d["results"].items()
        # A result recorded before the field (or the contender) existed has none.
        if (not under or under in r) and field in (r[under] if under else r)
    ]


def _at(key: str, field: str) -> Rows:
    return lambda d: [(key, d["results"][key][field])] if key in d["results"] else []


def _one(field: str) -> Rows:
    return lambda d: [("", d["results"][field])]


@dataclass(frozen=True)
class Target:
    name: str  # the key benchmarks record in their results' "targets"
    benchmark: str  # bench/results/BENCHMARK.json
    measure: str  # the summary row's label; {key} stands for the row's key
    rows: Rows
    bar: float | None = None  # None: reported beside the others, not judged
    higher_is_better: bool = True
    digits: int = 2
    each: str = ""  # what the rows run over; see `summary_rows`

    @property
    def bar_text(self) -> str:
        if self.bar is None:
            return "(none)"
        return f"{'≥' if self.higher_is_better else '≤'} {self.bar:g}"

    def verdict(self, ratio: Stats) -> str:
        if self.bar is None:
            return ""
        median = ratio["median"]
        met = median >= self.bar if self.higher_is_better else median <= self.bar
        return "met" if met else "**missed**"

    def judged(self, ratio: Stats) -> str:
        """The ratio followed by its verdict, as a section's table cell."""
        return f"{fmt_ratio(ratio, self.digits)} {self.verdict(ratio)}".rstrip()

    def cells(self, data: Data) -> dict[str, str]:
        return {key: self.judged(ratio) for key, ratio in self.rows(data)}

    def summary_rows(self, data: Data) -> list[tuple[str, list[str]]]:
        return [
            (
                key,
                [
                    self.measure.format(key=key),
                    self.bar_text,
                    fmt_ratio(ratio, self.digits),
                    self.verdict(ratio),
                ],
            )
            for key, ratio in self.rows(data)
        ]


@dataclass(frozen=True)
class BackgroundStatements(Target):
    """Introspect must send no statement of its own: the statements seen while it ran, against
    what an idle identity sends in the same time (revocation catch-up poll, key reload)."""

    def summary_rows(self, data: Data) -> list[tuple[str, list[str]]]:
        seen = data["sql_statements"]
        if "sql_window_s" not in data:  # results from before the idle rate was measured
            return [("", [self.measure, "0", f"{seen} in {data['introspect_calls']}", "see §2"])]
        background = data["sql_idle_per_s"] * data["sql_window_s"]
        # A rate measured over 10 s predicts the background count only roughly: allow 20 % + 5.
        met = seen <= background * 1.2 + 5
        measured = (
            f"{data['sql_attributable_per_call']:.4f} ({seen} seen in "
            f"{data['sql_window_s']:.0f} s vs {background:.0f} expected from the idle rate; "
            f"{data['introspect_calls']} calls)"
        )
        label = self.measure + " (beyond an idle identity's background)"
        return [("", [label, "0", measured, "met" if met else "**missed**"])]


VERIFIER_VS_RAW = Target(
    "verifier_vs_raw", "verify", "Verifier ÷ raw crypto, {key}",
    _each("verifier_vs_raw", "ratios"), 0.75, each="alg",
)  # fmt: skip
VERIFIER_VS_PYJWT = Target(
    "verifier_vs_pyjwt", "verify", "Verifier vs plain PyJWT, {key}",
    _each("verifier_vs_pyjwt", "ratios"), 1.0, each="alg",
)  # fmt: skip
CACHED_VS_RAW = Target(
    "cached_vs_raw", "verify", "cached Verifier ÷ raw, {key}",
    _each("cached_vs_raw", "ratios"), 40.0, digits=1, each="alg",
)  # fmt: skip
INTROSPECT_THROUGHPUT = Target(
    "throughput_ratio_at_64", "introspect", "Introspect ÷ echo throughput at {key}",
    _at("64", "throughput_ratio"), 0.6,
)  # fmt: skip
INTROSPECT_P99 = Target(
    "p99_ratio_max", "introspect", "Introspect p99 ÷ echo p99 at {key}",
    _each("p99_ratio"), 2.0, higher_is_better=False, each="concurrency",
)  # fmt: skip
INTROSPECT_SQL = BackgroundStatements(
    "sql_per_call", "introspect", "DB statements per Introspect call",
    lambda d: [], 0.0, higher_is_better=False,
)  # fmt: skip
REFRESH_VS_CEILING = Target(
    "grpc_vs_pg", "refresh", "gRPC Refresh ÷ PostgreSQL ceiling, {key} users",
    _each("grpc_vs_pg"), 0.6, each="users",
)  # fmt: skip
ECHO_VS_CEILING = Target(
    "echo_vs_pg", "refresh", "gRPC echo (no work) ÷ PostgreSQL ceiling, {key} users",
    _each("echo_vs_pg"), each="users",
)  # fmt: skip
FLOOR_VS_CEILING = Target(
    "floor_vs_pg", "refresh",
    "rotation floor (gRPC + the two statements, nothing else) ÷ PostgreSQL ceiling, {key} users",
    _each("floor_vs_pg"), each="users",
)  # fmt: skip
FLOOR_ROTATION_CPU = Target(
    "floor_ms_per_rotation", "refresh", "rotation floor CPU per rotation, ms, {key} users",
    _each("cpu_ms_per_call", "floor"), higher_is_better=False, each="users",
)  # fmt: skip
ROTATION_CPU = Target(
    "identity_ms_per_rotation", "refresh", "identity CPU per gRPC rotation, ms, {key} users",
    _each("cpu_ms_per_call", "grpc"), 1.0, higher_is_better=False, each="users",
)  # fmt: skip
EDGE_ROTATION_CPU = Target(
    "stack_ms_per_edge_rotation", "refresh",
    "identity + edge CPU per rotation through the edge, ms, {key} users",
    _each("cpu_ms_per_call", "edge"), 1.5, higher_is_better=False, each="users",
)  # fmt: skip
# Issue 19: the measured parallel-hash rate (two threads hashing, same run) replaced the
# `cores ÷ hash time` ceiling as the bar; the ceiling is still reported, unjudged.
LOGINS_VS_PARALLEL = Target(
    "logins_vs_parallel", "login", "logins/s ÷ parallel-hash rate",
    _one("logins_vs_parallel"), 0.9,
)  # fmt: skip
LOGINS_VS_CEILING = Target(
    "logins_vs_ceiling", "login", "logins/s ÷ Argon2id ceiling (cores ÷ hash time)",
    _one("logins_vs_ceiling"),
)  # fmt: skip
STORM_P99 = Target(
    "introspect_p99_storm_vs_idle_max", "login", "Introspect p99 in a login storm ÷ idle",
    _one("p99_storm_vs_idle"), 2.0, higher_is_better=False,
)  # fmt: skip
SCALING = Target(
    "throughput_ratio", "scaling", "{key}: 2 processes ÷ 1",
    _each("throughput_ratio"), each="workload",
)  # fmt: skip
WORKERS_SCALING = Target(
    "workers_throughput_ratio", "workers", "{key}: `identity serve` 2 workers ÷ 1",
    _each("throughput_ratio"), each="workload",
)  # fmt: skip


def _clients(field: str, below: int | None = None) -> Rows:
    """`results.clients[n][field]` for each client count n (those under `below`, if given)."""
    return lambda d: [
        (n, r[field])
        for n, r in d["results"]["clients"].items()
        if field in r and (below is None or int(n) < below)
    ]


def _versus_first(d: Data) -> list[tuple[str, Stats]]:
    return [
        (n, ratio)
        for n, r in d["results"]["clients"].items()
        for key, ratio in r.items()
        if key.startswith("vs_")
    ]


def _refusal(field: str) -> Rows:
    return lambda d: [("", d["results"]["refusal"][field])]


OVERLOAD_SCALING = Target(
    "logins_vs_fewest_clients", "login_overload", "logins/s at {key} clients ÷ at the fewest",
    _versus_first, 0.9,
)  # fmt: skip
OVERLOAD_VS_PARALLEL = Target(
    "overload_logins_vs_parallel", "login_overload",
    "logins/s at {key} clients ÷ parallel-hash rate", _clients("logins_vs_parallel"), 0.9,
)  # fmt: skip
OVERLOAD_429 = Target(
    "refused_below_queue", "login_overload", "429 answers at {key} clients (below the queue)",
    _clients("refused_429", below=DEFAULT_HASH_QUEUE), 0.0, higher_is_better=False, digits=0,
)  # fmt: skip
REFUSAL_CPU = Target(
    "identity_us_per_refusal", "login_overload",
    "identity CPU per refused login (through the edge), µs",
    _refusal("identity_us_per_refusal"), 50.0, higher_is_better=False, digits=0,
)  # fmt: skip
REFUSAL_DIRECT_CPU = Target(
    "direct_us_per_refusal", "login_overload",
    "identity CPU per gRPC Login it refuses itself, µs",
    _refusal("direct_us_per_refusal"), digits=0,
)  # fmt: skip
REFUSAL_DECISION = Target(
    "refusal_decision_us", "login_overload", "the refusal decision alone, µs",
    _refusal("decision_us"), 50.0, higher_is_better=False, digits=1,
)  # fmt: skip
REFUSAL_EDGE_CPU = Target(
    "edge_us_per_refusal", "login_overload", "edge CPU per 429, µs",
    _refusal("edge_us_per_refusal"), digits=0,
)  # fmt: skip

TARGETS: tuple[Target, ...] = (
    VERIFIER_VS_RAW,
    VERIFIER_VS_PYJWT,
    CACHED_VS_RAW,
    INTROSPECT_THROUGHPUT,
    INTROSPECT_P99,
    INTROSPECT_SQL,
    REFRESH_VS_CEILING,
    ECHO_VS_CEILING,
    FLOOR_VS_CEILING,
    ROTATION_CPU,
    FLOOR_ROTATION_CPU,
    EDGE_ROTATION_CPU,
    LOGINS_VS_PARALLEL,
    LOGINS_VS_CEILING,
    STORM_P99,
    SCALING,
    WORKERS_SCALING,
    OVERLOAD_SCALING,
    OVERLOAD_VS_PARALLEL,
    OVERLOAD_429,
    REFUSAL_CPU,
    REFUSAL_DIRECT_CPU,
    REFUSAL_DECISION,
    REFUSAL_EDGE_CPU,
)


def bars(benchmark: str) -> dict[str, float]:
    """The bars one benchmark is judged by, as it records them in its results."""
    return {t.name: t.bar for t in TARGETS if t.benchmark == benchmark and t.bar is not None}


def summary_rows(results: dict[str, Data | None]) -> list[list[str]]:
    """Every target's rows over the results at hand, in the table's order; consecutive targets
    over the same rows (each algorithm, say) are listed row by row: all of ES256, then EdDSA."""
    out: list[list[str]] = []
    for (benchmark, each), group in groupby(TARGETS, key=lambda t: (t.benchmark, t.each)):
        data = results.get(benchmark)
        if data is None:
            continue
        per_target = [t.summary_rows(data) for t in group]
        if not each:
            out += [row for rows in per_target for _, row in rows]
            continue
        for i in range(len(per_target[0])):
            out += [rows[i][1] for rows in per_target if i < len(rows)]
    return out


def console_line(benchmark: str) -> str:
    """The bars in one line, for a benchmark's printed report."""
    return "targets: " + ", ".join(
        f"{t.name} {t.bar_text}" for t in TARGETS if t.benchmark == benchmark and t.bar is not None
    )
