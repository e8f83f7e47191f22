"""`identity serve`, plus a count of the SQL statements it sends (for the benchmarks only).

    BENCH_SQL_COUNT_FILE=/tmp/n python -m bench.serve_counted

Runs `identity.cli.main(["serve"])` unchanged, after adding one SQLAlchemy
`before_cursor_execute` listener on every Engine: it counts statements and, every 50 ms, writes
the count to BENCH_SQL_COUNT_FILE. With BENCH_SQL_LOG_FILE set it also appends each statement's
text (never its parameters) to that file. With BENCH_CPROFILE=/path the whole process runs under
cProfile and writes its stats there on exit (SIGTERM). BENCH_EXPERIMENTS applies the named
monkeypatches of bench._patches (bench.experiments only). With BENCH_TRACEMALLOC=/path
(bench.soak --tracemalloc) tracemalloc traces allocations and, every BENCH_TRACEMALLOC_EVERY
seconds (default 60), the top allocation sites and the growth since the first snapshot are
appended to that file. With BENCH_GC_LOG=/path every garbage collection of generation 1 or 2
appends "generation wall-seconds thread-cpu-seconds objects-collected" to that file. With
BENCH_LOOP_LAG=/path a task on identity's event loop sleeps 5 ms at a time and appends
"unix-time lateness-ms loop-thread-cpu-ms" for each sleep: a late wake-up with CPU spent in the
window means the loop was busy with other steps, one without means the thread was waiting for a
core. Nothing else differs from `identity serve`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_count = 0
_lock = threading.Lock()
_log_path = os.environ.get("BENCH_SQL_LOG_FILE")
_log = open(_log_path, "a", buffering=1) if _log_path else None  # noqa: SIM115


@event.listens_for(Engine, "before_cursor_execute")
def _counted(*args: Any) -> None:
    global _count
    with _lock:
        _count += 1
    if _log is not None:
        _log.write(" ".join(str(args[2]).split()) + "\n")


def _writer(path: str) -> None:
    last = -1
    while True:
        if _count != last:
            last = _count
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                f.write(f"{last}\n")
            os.replace(tmp, path)
        time.sleep(0.05)


def _tracemalloc(path: str, every: float, frames: int) -> None:
    import tracemalloc

    tracemalloc.start(frames)
    ignore = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        tracemalloc.Filter(False, "<unknown>"),
    ]
    started = time.monotonic()

    def loop() -> None:
        first: tracemalloc.Snapshot | None = None
        while True:
            time.sleep(every)
            snapshot = tracemalloc.take_snapshot().filter_traces(ignore)
            current, peak = tracemalloc.get_traced_memory()
            lines = [
                f"== t={time.monotonic() - started:.0f} s traced={current / 2**20:.2f} MiB "
                f"peak={peak / 2**20:.2f} MiB"
            ]
            if first is None:
                first = snapshot
            else:
                lines.append("-- growth since the first snapshot (by traceback)")
                for stat in snapshot.compare_to(first, "traceback")[:15]:
                    lines.append(
                        f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks "
                        f"(now {stat.size / 1024:.1f} KiB)"
                    )
                    lines.extend("      " + line for line in stat.traceback.format()[-2 * frames :])
            lines.append("-- largest now (by line)")
            for stat in snapshot.statistics("lineno")[:10]:
                size = stat.size / 1024
                lines.append(f"{size:10.1f} KiB {stat.count:8d} blocks {stat.traceback}")
            with open(path, "a") as f:
                f.write("\n".join(lines) + "\n")

    threading.Thread(target=loop, daemon=True, name="bench-tracemalloc").start()


def _gc_log(path: str) -> None:
    import gc

    out = open(path, "a", buffering=1)  # noqa: SIM115
    started = [0.0, 0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 0:
            return
        if phase == "start":
            started[:] = time.perf_counter(), time.thread_time()
        else:
            elapsed = time.perf_counter() - started[0]
            cpu = time.thread_time() - started[1]
            out.write(f"{info['generation']} {elapsed:.6f} {cpu:.6f} {info['collected']}\n")

    gc.callbacks.append(callback)


def _loop_lag(path: str) -> None:
    import asyncio

    import identity.cli

    started = identity.cli.freeze_startup_objects

    async def monitor() -> None:
        with open(path, "a", buffering=1) as out:
            while True:
                wall, cpu = time.perf_counter(), time.thread_time()
                await asyncio.sleep(0.005)
                late = (time.perf_counter() - wall - 0.005) * 1e3
                busy = (time.thread_time() - cpu) * 1e3
                out.write(f"{time.time():.4f} {late:.3f} {busy:.3f}\n")

    def start_then_monitor() -> None:  # called on the running loop once identity has started
        started()
        _tasks.add(asyncio.get_running_loop().create_task(monitor()))

    identity.cli.freeze_startup_objects = start_then_monitor  # type: ignore[assignment]


_tasks: set[Any] = set()


def read_count(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def main() -> int:
    path = os.environ.get("BENCH_SQL_COUNT_FILE")
    if path:
        threading.Thread(target=_writer, args=(path,), daemon=True, name="sql-count").start()
    trace_path = os.environ.get("BENCH_TRACEMALLOC")
    if trace_path:  # bench.soak --tracemalloc only: where does resident memory go?
        every = float(os.environ.get("BENCH_TRACEMALLOC_EVERY", "60"))
        _tracemalloc(trace_path, every, int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "4")))
    gc_path = os.environ.get("BENCH_GC_LOG")
    if gc_path:  # how long do the collector's pauses stop the event loop?
        _gc_log(gc_path)
    lag_path = os.environ.get("BENCH_LOOP_LAG")
    if lag_path:  # is a slow call the event loop's own work, or a wait for a core?
        _loop_lag(lag_path)
    experiments = os.environ.get("BENCH_EXPERIMENTS")
    if experiments:  # bench.experiments only: measure a proposed change before it is made
        from bench._patches import apply

        apply(experiments)
    from identity.cli import main as identity_main

    profile_path = os.environ.get("BENCH_CPROFILE")
    if not profile_path:
        return identity_main(sys.argv[1:] or ["serve"])
    import cProfile

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(identity_main, sys.argv[1:] or ["serve"])
    finally:
        profiler.dump_stats(profile_path)


if __name__ == "__main__":
    sys.exit(main())
