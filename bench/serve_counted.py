"""`identity serve`, plus a count of the SQL statements it sends (for the benchmarks only).

    BENCH_SQL_COUNT_FILE=/tmp/n python -m bench.serve_counted

Runs `identity.cli.main(["serve"])` unchanged, after adding one SQLAlchemy
`before_cursor_execute` listener on every Engine: it counts statements and, every 50 ms, writes
the count to BENCH_SQL_COUNT_FILE. With BENCH_SQL_LOG_FILE set it also appends each statement's
text (never its parameters) to that file. With BENCH_CPROFILE=/path the whole process runs under
cProfile and writes its stats there on exit (SIGTERM). BENCH_EXPERIMENTS applies the named
monkeypatches of bench._patches (bench.experiments only). Nothing else differs from
`identity serve`.
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
