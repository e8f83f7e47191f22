"""Shared facts: paths, the CPU split, machine facts, statistics and result files.

Every figure the benchmarks publish is a ratio (or a median with its min–max) of two things
measured in the same run, interleaved repeat by repeat, because the machine is small, shared
and noisy: an absolute time from one run says little, a ratio within a run says more.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"

# The CPU split on a 2-core machine: servers (identity, edge, echo) on the last core, the load
# generator on the first. PostgreSQL is a server already running on the machine and is not
# pinned: its backends share both cores with everything else.
N_CPUS = os.cpu_count() or 1
SERVER_CPUS: tuple[int, ...] = (N_CPUS - 1,) if N_CPUS > 1 else (0,)
CLIENT_CPUS: tuple[int, ...] = (0,)
ALL_CPUS: tuple[int, ...] = tuple(range(N_CPUS))


def results_dir() -> Path:
    """bench/results/, or BENCH_RESULTS (a smoke run writes to a temporary folder)."""
    return Path(os.environ.get("BENCH_RESULTS") or RESULTS)


def docs_dir() -> Path:
    """docs/, or the results folder when BENCH_RESULTS moved it: a smoke run leaves docs alone."""
    return DOCS if results_dir() == RESULTS else results_dir()


def plots_dir() -> Path:
    return docs_dir() / "perf"


def shown(path: Path) -> str:
    """A path as results record it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def pin(cpus: Iterable[int]) -> None:
    """Pin this process (and threads started later) to `cpus`, where the OS allows it."""
    try:
        os.sched_setaffinity(0, set(cpus))
    except (AttributeError, OSError):
        pass


def taskset(cpus: Iterable[int]) -> list[str]:
    """A command prefix pinning a child to `cpus` (empty when taskset is missing)."""
    if not Path("/usr/bin/taskset").exists():
        return []
    return ["/usr/bin/taskset", "-c", ",".join(str(c) for c in cpus)]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu_model(),
        "cores": N_CPUS,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "code": git_revision(),
        "packages": {
            name: _version(name)
            for name in (
                "grpcio",
                "PyJWT",
                "cryptography",
                "SQLAlchemy",
                "asyncpg",
                "argon2-cffi",
                "uvicorn",
                "httpx",
            )
        },
    }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median and min–max over repeats."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def fmt_ratio(s: dict[str, float], digits: int = 2) -> str:
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def fmt_num(s: dict[str, float], digits: int = 0, scale: float = 1.0) -> str:
    m, lo, hi = s["median"] * scale, s["min"] * scale, s["max"] * scale
    return f"{m:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def save(name: str, data: dict[str, Any]) -> Path:
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    data = {"benchmark": name, "machine": machine(), **data}
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def load(name: str) -> dict[str, Any] | None:
    path = results_dir() / f"{name}.json"
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            # The benchmarks' own outputs are not code: a run rewrites them as it goes.
            [
                "git",
                "--no-optional-locks",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!bench/results",
                ":!docs",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() + ("+local changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
