"""Run every benchmark, then write docs/PERFORMANCE.md and docs/perf/*.png.

    python -m bench.all            # about 15 minutes on 2 cores
    python -m bench.all --quick    # a smoke run, a few minutes (fewer, shorter repeats)
    python -m bench.all --only verify,introspect

Each benchmark also runs alone (`python -m bench.verify`, `bench.introspect`, `bench.refresh`,
`bench.login`, `bench.login_overload`, `bench.scaling`, `bench.workers`, `bench.edge_servers`,
`bench.experiments`) and
`python -m bench.report` rewrites the document from whatever results exist in bench/results/.

`python -m bench.soak` (10 minutes of mixed load, resident memory and connections sampled; see
docs/RELIABILITY.md) runs only alone: it is not part of this run.

Every benchmark takes `--quick` (tiny settings: a smoke run that checks it still starts and
completes). With BENCH_RESULTS=DIR the results, and the document and plots written from them,
go to DIR instead of bench/results/ and docs/:

    BENCH_RESULTS=/tmp/bench python -m bench.all --quick
"""

from __future__ import annotations

import argparse
import importlib
import time

ORDER = (
    "verify",
    "introspect",
    "refresh",
    "login",
    "login_overload",
    "scaling",
    "workers",
    "edge_servers",
    "experiments",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", default=",".join(ORDER[:-1]), help=f"comma-separated subset of {','.join(ORDER)}"
    )
    args = parser.parse_args(argv)
    for name in args.only.split(","):
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        print(f"== bench.{name}", flush=True)
        module.main(["--quick"] if args.quick else [])
        print(f"== bench.{name}: {time.monotonic() - started:.0f} s", flush=True)
    from bench import report

    report.main()


if __name__ == "__main__":
    main()
