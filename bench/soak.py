"""Soak: minutes of mixed load on identity + the edge, sampling memory, descriptors, sockets and
PostgreSQL connections to see whether anything grows.

    python -m bench.soak [--duration 600] [--interval 5] [--users 8] [--login-rate 2]

One IdentityStack (a throwaway database, `identity serve` through bench.serve_counted and
`edge-http serve`, both pinned to the last core); this process, the load generator, on core 0.
All load goes to 127.0.0.1, bounded in time (--duration) and in operations (--max-ops).

Each virtual user owns one account (registered over gRPC before the run) and loops over
sessions, closed loop, `--think` seconds between steps:

1. `POST /auth/login` through the edge (`X-Requested-With` + `Origin`), at most `--login-rate`
   logins per second over all users (Argon2id: a login costs tens of ms of the server core);
2. `Introspect` of the access token over gRPC (`service` credential): must be active;
3. `--refreshes` times: `POST /auth/refresh` with the cookie through the edge, then
   `Introspect` of the new access token (active);
4. `Introspect` of the refresh token: inactive (refresh tokens never are, and cost no lookup);
5. the end of the session, in turn: `POST /auth/logout` through the edge, admin `RevokeSession`
   (sid from the introspection) or admin `RevokeUserSessions` (sub) over gRPC (`admin`
   credential);
6. checks that the revocation holds: `Introspect` of the last access token must say inactive,
   and `POST /auth/refresh` with the cookie must be refused (401).
   Those refusals are expected and counted apart; only unexpected outcomes are errors.

Every `--interval` seconds: VmRSS and Threads (/proc/<pid>/status), open descriptors
(/proc/<pid>/fd), sockets and TCP sockets (fd inodes matched against /proc/<pid>/net/tcp{,6})
of identity and the edge, the bench database's connections in pg_stat_activity, CPU seconds,
SQL statements sent by identity, and the operation counts so far. At the end: the samples in
bench/results/soak.json, docs/perf/soak_rss.png and docs/perf/soak_fds.png, and a summary.

`--quick` is a smoke run (20 s, 2 users, a sample every 2 s). `--tracemalloc` is an
investigation, not the figure: identity runs under tracemalloc (bench.serve_counted's
BENCH_TRACEMALLOC hook), which appends the allocation sites that grew to
bench/results/soak_tracemalloc.txt every minute; results go to soak_tracemalloc.json, no plots
(tracing itself costs memory and CPU, so its RSS says nothing about the product).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench._common import (
    CLIENT_CPUS,
    SERVER_CPUS,
    git_revision,
    load,
    machine,
    pin,
    results_dir,
    save,
    shown,
)
from bench.plots import plot_soak
from bench.procfs import probe, thread_names
from bench.runner import arguments
from bench.soak_figures import report, summarize
from bench.soak_users import Settings, Soak
from bench.stack import PG_DSN, IdentityStack, emails, register

HTTP_TIMEOUT = 15.0


async def pg_connections(conn: asyncpg.Connection, database: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT coalesce(state, 'none') AS state, count(*) AS n FROM pg_stat_activity "
        "WHERE datname = $1 GROUP BY 1",
        database,
    )
    by_state = {row["state"]: int(row["n"]) for row in rows}
    return {"total": sum(by_state.values()), **by_state}


async def sampler(
    soak: Soak, stack: IdentityStack, pg: asyncpg.Connection, samples: list[dict[str, Any]]
) -> None:
    identity_pid, edge_pid = stack.servers[0].pid, stack.edges[0].pid
    interval = soak.settings.interval
    next_at = soak.began
    while True:
        stack.servers[0].check()
        stack.edges[0].check()
        sample = {
            "t": round(time.monotonic() - soak.began, 2),
            "identity": probe(identity_pid),
            "edge": probe(edge_pid),
            "pg": await pg_connections(pg, stack.db.name),
            "sql_statements": stack.sql_statements(),
            "ops": dict(soak.tally.ops),
            "errors": sum(soak.tally.errors.values()),
            "cycles": soak.tally.cycles,
        }
        samples.append(sample)
        if not soak.running():
            return
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def run(settings: Settings, command: str) -> dict[str, Any]:
    pin(CLIENT_CPUS)
    facts = machine()
    samples: list[dict[str, Any]] = []
    extra_env: dict[str, str] = {}
    trace_path = results_dir() / "soak_tracemalloc.txt"
    if settings.tracemalloc:  # an investigation, not the figure: tracing costs memory and CPU
        trace_path.unlink(missing_ok=True)
        extra_env = {
            "BENCH_TRACEMALLOC": str(trace_path),
            "BENCH_TRACEMALLOC_EVERY": str(max(30.0, settings.interval * 12)),
        }
    async with IdentityStack(extra_env=extra_env) as stack:
        url = await stack.start_edge()
        channel = stack.channels[0]
        accounts = emails("soak", settings.users)
        await register(channel, stack.credentials["edge"], accounts)
        client = httpx.AsyncClient(
            base_url=url,
            limits=httpx.Limits(max_connections=settings.users + 4),
            timeout=HTTP_TIMEOUT,
        )
        pg = await asyncpg.connect(PG_DSN)  # the postgres database: not counted in the bench db
        try:
            soak = Soak(stack, client, channel, settings, time.monotonic())
            users = [asyncio.create_task(soak.user(email)) for email in accounts]
            await sampler(soak, stack, pg, samples)
            await asyncio.gather(*users)
            # One more sample with the load stopped (pools idle, nothing in flight).
            await asyncio.sleep(min(settings.interval, 2.0))
            after = {
                "identity": probe(stack.servers[0].pid),
                "edge": probe(stack.edges[0].pid),
                "pg": await pg_connections(pg, stack.db.name),
                "identity_threads": thread_names(stack.servers[0].pid),
                "edge_threads": thread_names(stack.edges[0].pid),
            }
        finally:
            await pg.close()
            await client.aclose()
    result = summarize(samples, soak.tally)
    result["after_load"] = after
    name = settings.name
    data = {
        "machine": facts,  # as the run started (save() would take it at the end)
        "command": command,
        "code": git_revision(),
        "settings": {
            "duration_s": settings.duration,
            "interval_s": settings.interval,
            "users": settings.users,
            "refreshes_per_session": settings.refreshes,
            "think_s": f"{settings.think} ±50 %",
            "login_rate_per_s": settings.login_rate,
            "max_ops": settings.max_ops,
            "tracemalloc": shown(trace_path) if settings.tracemalloc else None,
            "server_cpus": list(SERVER_CPUS),
            "client_cpus": list(CLIENT_CPUS),
        },
        "summary": result,
        "plots": [],
        "samples": samples,
    }
    if not settings.tracemalloc:
        data["plots"] = [shown(p) for p in plot_soak(samples, _caption(data), name)]
    save(name, data)
    return data


def _caption(data: dict[str, Any]) -> str:
    facts = data.get("machine") or machine()
    return (
        f"{facts['date']}, {facts['cpu_model']} ({facts['cores']} cores), "
        f"code {data['code']}; `{data['command']}`"
    )


def replot(name: str) -> list[Path]:
    """The plots again from bench/results/NAME.json (no load)."""
    data = load(name)
    if data is None:
        raise SystemExit(f"no bench/results/{name}.json")
    return plot_soak(data["samples"], _caption(data), name)


def main(argv: list[str] | None = None) -> None:
    args = arguments(
        __doc__,
        argv,
        quick={"duration": 20.0, "interval": 2.0, "users": 2},
        duration=(600.0, "seconds of load"),
        interval=(5.0, "seconds between samples"),
        users=(8, "virtual users (one account each)"),
        refreshes=(4, "refreshes per session"),
        think=(0.2, "seconds between steps"),
        login_rate=(2.0, "logins/s, all users"),
        max_ops=(500_000, "stop after this many"),
        tracemalloc=(
            False,
            "trace identity's allocations (bench/results/soak_tracemalloc.txt); "
            "writes soak_tracemalloc.json and no plots",
        ),
        replot=(False, "only redraw NAME's plots from its results"),
        name=(
            "",
            "results bench/results/NAME.json, plots docs/perf/NAME_{rss,fds}.png "
            "(default soak, or soak_tracemalloc with --tracemalloc)",
        ),
    )
    args.name = args.name or ("soak_tracemalloc" if args.tracemalloc else "soak")
    settings = Settings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)})
    if args.replot:
        for path in replot(settings.name):
            print(path)
        return
    command = "python -m bench.soak " + " ".join(argv if argv is not None else sys.argv[1:])
    data = asyncio.run(run(settings, command.strip()))
    print(report(data))


if __name__ == "__main__":
    main()
