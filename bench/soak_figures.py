"""What a soak counted and what it comes to: the tally of operations, the summary of the
samples (first minute against last, slopes, first/last/max) and the printed report.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench._common import percentile

MiB = 1024.0


@dataclass
class Tally:
    ops: dict[str, int] = field(default_factory=dict)
    expected_refusals: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error_examples: list[str] = field(default_factory=list)
    latencies: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    cycles: int = 0
    total: int = 0

    def op(self, kind: str, started_at: float, seconds: float) -> None:
        self.ops[kind] = self.ops.get(kind, 0) + 1
        self.latencies.setdefault(kind, []).append((started_at, seconds))
        self.total += 1

    def refused(self, kind: str) -> None:
        self.expected_refusals[kind] = self.expected_refusals.get(kind, 0) + 1

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.total += 1
        if len(self.error_examples) < 30:
            self.error_examples.append(f"{kind}: {detail[:300]}")


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return float("nan")
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return sxy / sxx * 60.0


def summarize(samples: list[dict[str, Any]], tally: Tally) -> dict[str, Any]:
    end = samples[-1]["t"]
    first = [s for s in samples if s["t"] < 60.0]
    last = [s for s in samples if s["t"] >= end - 60.0]
    window_start = max(0.0, end - 480.0)
    out: dict[str, Any] = {"elapsed_s": end}
    for name in ("identity", "edge"):
        first_rss = statistics.median(s[name]["rss_kib"] for s in first) / MiB
        last_rss = statistics.median(s[name]["rss_kib"] for s in last) / MiB
        window = [(s["t"], s[name]["rss_kib"] / MiB) for s in samples if s["t"] >= window_start]
        out[name] = {
            "rss_first_minute_mib": round(first_rss, 2),
            "rss_last_minute_mib": round(last_rss, 2),
            "rss_ratio_last_first": round(last_rss / first_rss, 4),
            "rss_slope_mib_per_min": round(slope_per_minute(window), 4),
            "rss_slope_window_s": [round(window_start, 1), end],
            "rss_max_mib": round(max(s[name]["rss_kib"] for s in samples) / MiB, 2),
            "peak_hwm_mib": round(samples[-1][name]["hwm_kib"] / MiB, 2),
            "fds_first_last_max": _first_last_max(samples, name, "fds"),
            "sockets_first_last_max": _first_last_max(samples, name, "sockets"),
            "tcp_first_last_max": _first_last_max(samples, name, "tcp"),
            "threads_first_last_max": _first_last_max(samples, name, "threads"),
            "cpu_cores": round(
                (samples[-1][name]["cpu_s"] - samples[0][name]["cpu_s"])
                / max(1e-9, end - samples[0]["t"]),
                3,
            ),
        }
    pg = [s["pg"]["total"] for s in samples]
    out["pg_connections_first_last_max"] = [pg[0], pg[-1], max(pg)]
    out["ops"] = dict(sorted(tally.ops.items()))
    out["ops_total"] = sum(tally.ops.values())
    out["ops_per_minute"] = {
        k: round(v / end * 60.0, 1) for k, v in sorted(tally.ops.items()) if end > 0
    }
    out["cycles"] = tally.cycles
    out["expected_refusals"] = dict(sorted(tally.expected_refusals.items()))
    out["errors"] = dict(sorted(tally.errors.items()))
    out["errors_total"] = sum(tally.errors.values())
    out["error_examples"] = tally.error_examples
    out["latency_ms"] = _latencies(tally, end)
    return out


def _first_last_max(samples: list[dict[str, Any]], name: str, key: str) -> list[int]:
    values = [s[name][key] for s in samples]
    return [values[0], values[-1], max(values)]


def _latencies(tally: Tally, end: float) -> dict[str, Any]:
    """p50/p99 per kind, first minute vs last minute (does anything slow down?)."""
    out: dict[str, Any] = {}
    for kind, points in sorted(tally.latencies.items()):
        row: dict[str, Any] = {}
        for label, chosen in (
            ("first_minute", [s for t, s in points if t < 60.0]),
            ("last_minute", [s for t, s in points if t >= end - 60.0]),
            ("all", [s for _, s in points]),
        ):
            chosen.sort()
            row[label] = {
                "n": len(chosen),
                "p50": round(percentile(chosen, 50) * 1e3, 2) if chosen else None,
                "p99": round(percentile(chosen, 99) * 1e3, 2) if chosen else None,
            }
        out[kind] = row
    return out


def report(data: dict[str, Any]) -> str:
    s = data["summary"]
    lines = [f"soak: {data['command']} ({s['elapsed_s']:.0f} s measured, code {data['code']})"]
    for name in ("identity", "edge"):
        p = s[name]
        lines.append(
            f"  {name}: RSS first-minute median {p['rss_first_minute_mib']:.1f} MiB, last-minute "
            f"{p['rss_last_minute_mib']:.1f} MiB (ratio {p['rss_ratio_last_first']:.3f}); slope "
            f"{p['rss_slope_mib_per_min']:+.3f} MiB/min over t={p['rss_slope_window_s'][0]:.0f}–"
            f"{p['rss_slope_window_s'][1]:.0f} s; max {p['rss_max_mib']:.1f} MiB; "
            f"fds first/last/max {p['fds_first_last_max']}, TCP {p['tcp_first_last_max']}, "
            f"threads {p['threads_first_last_max']}; CPU {p['cpu_cores']:.2f} cores"
        )
    lines.append(f"  PG connections first/last/max: {s['pg_connections_first_last_max']}")
    lines.append(f"  cycles {s['cycles']}, ops {s['ops_total']}: {s['ops']}")
    lines.append(f"  per minute: {s['ops_per_minute']}")
    lines.append(f"  expected refusals: {s['expected_refusals']}")
    lines.append(f"  errors {s['errors_total']}: {s['errors']}")
    for example in s["error_examples"][:10]:
        lines.append(f"    {example}")
    for kind, row in s["latency_ms"].items():
        lines.append(
            f"  {kind}: p50/p99 ms first minute {row['first_minute']['p50']}/"
            f"{row['first_minute']['p99']}, last minute {row['last_minute']['p50']}/"
            f"{row['last_minute']['p99']}"
        )
    lines.append(f"  after the load: {s.get('after_load')}")
    return "\n".join(lines)
