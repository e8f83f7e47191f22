"""The figures of docs/PERFORMANCE.md and docs/RELIABILITY.md, drawn from results with matplotlib.

Each writes PNGs under docs/perf/ (or beside the results when BENCH_RESULTS moved them) and
returns their paths as the documents link them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench._common import plots_dir  # noqa: E402
from bench.soak_figures import MiB  # noqa: E402
from bench.targets import VERIFIER_VS_RAW  # noqa: E402


def _errbar(ax: Any, xs: list[int], stats: list[dict[str, float]], label: str, **kw: Any) -> None:
    med = [s["median"] for s in stats]
    lo = [s["median"] - s["min"] for s in stats]
    hi = [s["max"] - s["median"] for s in stats]
    ax.errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=4, label=label, **kw)


def _save(fig: Any, name: str, tight: bool = True) -> Path:
    plots_dir().mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(plots_dir() / name, dpi=110)
    plt.close(fig)
    return plots_dir() / name


def _log2_x(ax: Any, xs: list[int], xlabel: str) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel(xlabel)


def plot_introspect(data: dict[str, Any]) -> list[Path]:
    res = data["results"]
    xs = [int(c) for c in res]
    fig, ax = plt.subplots(figsize=(6, 4))
    _errbar(ax, xs, [res[str(c)]["echo_throughput"] for c in xs], "grpc.aio echo (baseline)")
    _errbar(ax, xs, [res[str(c)]["introspect_throughput"] for c in xs], "Introspect")
    _log2_x(ax, xs, "concurrent calls")
    ax.set_ylabel("calls/s (median, min–max)")
    ax.set_title("Introspect vs echo: throughput")
    ax.set_ylim(bottom=0)
    ax.legend()
    a = _save(fig, "introspect_throughput.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, style, color in (
        ("echo_p50_ms", "echo p50", "--", "C0"),
        ("echo_p99_ms", "echo p99", "-", "C0"),
        ("introspect_p50_ms", "Introspect p50", "--", "C1"),
        ("introspect_p99_ms", "Introspect p99", "-", "C1"),
    ):
        _errbar(ax, xs, [res[str(c)][key] for c in xs], label, linestyle=style, color=color)
    _log2_x(ax, xs, "concurrent calls")
    ax.set_yscale("log")
    ax.set_ylabel("latency, ms (median of repeats, min–max)")
    ax.set_title("Introspect vs echo: latency")
    ax.legend()
    return [a, _save(fig, "introspect_latency.png")]


def plot_refresh(data: dict[str, Any]) -> list[Path]:
    res = data["results"]
    xs = [int(n) for n in res]
    names = [n for n in ("pg", "grpc", "edge") if n in res[str(xs[0])]]
    labels = {
        "pg": "PostgreSQL ceiling (asyncpg)",
        "grpc": "gRPC Refresh",
        "edge": "HTTP edge",
        "floor": "rotation floor (gRPC + statements only)",
    }
    # The floor on the throughput plot only: between the ceiling and identity, it shows how much
    # of the gap any server on this stack would leave.
    with_floor = names + ["floor"] if "floor" in res[str(xs[0])] else names
    fig, ax = plt.subplots(figsize=(6, 4))
    for idx, name in enumerate(with_floor):
        _errbar(
            ax, xs, [res[str(n)][name]["throughput"] for n in xs], labels[name], color=f"C{idx}"
        )
    _log2_x(ax, xs, "virtual users (one chain each)")
    ax.set_yscale("log")
    ax.set_ylabel("rotations/s (median, min–max)")
    ax.set_title("Refresh rotation: throughput")
    ax.set_ylim(top=ax.get_ylim()[1] * 4)  # room above the ceiling for the legend
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    a = _save(fig, "refresh_throughput.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for idx, name in enumerate(names):
        p50 = [res[str(n)][name]["p50_ms"] for n in xs]
        p99 = [res[str(n)][name]["p99_ms"] for n in xs]
        _errbar(ax, xs, p50, f"{labels[name]} p50", linestyle="--", color=f"C{idx}")
        _errbar(ax, xs, p99, f"{labels[name]} p99", color=f"C{idx}")
    _log2_x(ax, xs, "virtual users (one chain each)")
    ax.set_yscale("log")
    ax.set_ylabel("latency, ms")
    ax.set_title("Refresh rotation: latency")
    ax.legend(fontsize=7)
    return [a, _save(fig, "refresh_latency.png")]


def plot_verify(data: dict[str, Any]) -> list[Path]:
    algs = list(data["results"])
    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.25
    for i, (key, label) in enumerate(
        (
            ("verifier_vs_raw", "Verifier (first seen)"),
            ("pyjwt_vs_raw", "plain jwt.decode"),
            ("verifier_nocache_vs_raw", "Verifier, cache off"),
        )
    ):
        stats = [data["results"][a]["ratios"][key] for a in algs]
        xs = [j + (i - 1) * width for j in range(len(algs))]
        ax.bar(
            xs,
            [s["median"] for s in stats],
            width,
            label=label,
            yerr=[[s["median"] - s["min"] for s in stats], [s["max"] - s["median"] for s in stats]],
            capsize=3,
        )
    bar = VERIFIER_VS_RAW.bar or 0.0
    ax.axhline(bar, color="red", linestyle=":", label=f"target {bar:g}")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(algs)), algs)
    ax.set_ylabel("throughput ÷ raw cryptography verify")
    ax.set_title("Offline verification vs the signature-check floor")
    ax.legend(fontsize=8)
    return [_save(fig, "verify_ratios.png")]


def plot_soak(samples: list[dict[str, Any]], caption: str, name: str) -> list[Path]:
    """NAME_rss.png (resident memory) and NAME_fds.png (descriptors, sockets, connections)."""
    minutes = [s["t"] / 60.0 for s in samples]
    paths = []

    fig, ax = plt.subplots(figsize=(8, 4.2))
    for proc in ("identity", "edge"):
        ax.plot(minutes, [s[proc]["rss_kib"] / MiB for s in samples], label=f"{proc} VmRSS")
    ax.set_xlabel("minutes into the soak")
    ax.set_ylabel("resident memory (MiB)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Soak: resident memory", fontsize=11)
    fig.text(0.01, 0.01, caption, fontsize=7, color="#555")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    paths.append(_save(fig, f"{name}_rss.png", tight=False))

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for proc, style in (("identity", "-"), ("edge", "--")):
        top.plot(minutes, [s[proc]["fds"] for s in samples], style, label=f"{proc} open fds")
        top.plot(minutes, [s[proc]["tcp"] for s in samples], style, label=f"{proc} TCP sockets")
    top.set_ylabel("count")
    top.set_ylim(bottom=0)
    top.grid(True, alpha=0.3)
    top.legend(loc="lower right", fontsize=8, ncol=2)
    top.set_title("Soak: descriptors, sockets, PostgreSQL connections", fontsize=11)
    bottom.plot(minutes, [s["pg"]["total"] for s in samples], label="PG connections (bench db)")
    bottom.plot(minutes, [s["identity"]["threads"] for s in samples], label="identity threads")
    bottom.plot(minutes, [s["edge"]["threads"] for s in samples], "--", label="edge threads")
    bottom.set_xlabel("minutes into the soak")
    bottom.set_ylabel("count")
    bottom.set_ylim(bottom=0)
    bottom.grid(True, alpha=0.3)
    bottom.legend(loc="lower right", fontsize=8)
    fig.text(0.01, 0.01, caption, fontsize=7, color="#555")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    paths.append(_save(fig, f"{name}_fds.png", tight=False))
    return paths
