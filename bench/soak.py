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

`--tracemalloc` is an investigation, not the figure: identity runs under tracemalloc
(bench.serve_counted's BENCH_TRACEMALLOC hook), which appends the allocation sites that grew to
bench/results/soak_tracemalloc.txt every minute; results go to soak_tracemalloc.json, no plots
(tracing itself costs memory and CPU, so its RSS says nothing about the product).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import grpc
import grpc.aio
import httpx

from bench._common import (
    CLIENT_CPUS,
    PLOTS,
    RESULTS,
    ROOT,
    SERVER_CPUS,
    git_revision,
    load,
    machine,
    percentile,
    pin,
    proc_cpu_seconds,
    save,
)
from bench.refresh import COOKIE, _cookie
from bench.stack import PASSWORD, PG_DSN, IdentityStack, metadata
from identity.v1 import admin_pb2, admin_pb2_grpc, identity_pb2_grpc
from identity.v1 import identity_pb2 as pb

T = TypeVar("T")

CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "auth-client"
RPC_TIMEOUT = 10.0
HTTP_TIMEOUT = 15.0
REVOKE_KINDS = ("logout_edge", "revoke_session", "revoke_user")
MiB = 1024.0


class Unexpected(Exception):
    """An outcome the soak did not expect; its message is the error kind."""


# --- process probes (Linux /proc) ------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "Threads"):
                out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def _tcp_inodes(pid: int) -> tuple[set[str], set[str]]:
    """(all TCP socket inodes, established ones) in the process's network namespace."""
    every: set[str] = set()
    established: set[str] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9:
                every.add(fields[9])
                if fields[3] == "01":
                    established.add(fields[9])
    return every, established


def probe(pid: int) -> dict[str, Any]:
    status = _status(pid)
    fds = sockets = tcp = tcp_established = 0
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        entries = []
    every, established = _tcp_inodes(pid)
    for entry in entries:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{entry}")
        except OSError:
            continue  # closed between listdir and readlink
        fds += 1
        if target.startswith("socket:["):
            sockets += 1
            inode = target[8:-1]
            if inode in every:
                tcp += 1
                tcp_established += inode in established
    return {
        "rss_kib": status.get("VmRSS", 0),
        "hwm_kib": status.get("VmHWM", 0),
        "anon_kib": status.get("RssAnon", 0),
        "threads": status.get("Threads", 0),
        "fds": fds,
        "sockets": sockets,
        "tcp": tcp,
        "tcp_established": tcp_established,
        "cpu_s": round(proc_cpu_seconds(pid), 2),
    }


def thread_names(pid: int) -> dict[str, int]:
    """How many threads of each name (/proc/<pid>/task/*/comm)."""
    names: dict[str, int] = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return names
    for tid in tasks:
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        names[name] = names.get(name, 0) + 1
    return dict(sorted(names.items()))


async def pg_connections(conn: asyncpg.Connection, database: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT coalesce(state, 'none') AS state, count(*) AS n FROM pg_stat_activity "
        "WHERE datname = $1 GROUP BY 1",
        database,
    )
    by_state = {row["state"]: int(row["n"]) for row in rows}
    return {"total": sum(by_state.values()), **by_state}


# --- the load ----------------------------------------------------------------------------------


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


@dataclass
class Settings:
    duration: float
    interval: float
    users: int
    refreshes: int
    think: float
    login_rate: float
    max_ops: int
    tracemalloc: bool = False
    name: str = "soak"


class LoginGate:
    """At most `rate` logins start per second, over all virtual users."""

    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate
        self._next = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(self._next + self._gap, time.monotonic())


class Soak:
    def __init__(
        self,
        stack: IdentityStack,
        client: httpx.AsyncClient,
        channel: grpc.aio.Channel,
        settings: Settings,
        began: float,
    ) -> None:
        self.client = client
        self.origin = str(client.base_url).rstrip("/")
        self.identity = identity_pb2_grpc.IdentityServiceStub(channel)
        self.admin = admin_pb2_grpc.IdentityAdminStub(channel)
        self.service_md = metadata(stack.credentials["service"])
        self.admin_md = metadata(stack.credentials["admin"])
        self.settings = settings
        self.began = began
        self.stop_at = began + settings.duration
        self.gate = LoginGate(settings.login_rate)
        self.tally = Tally()
        self.revoke_turn = 0

    def running(self) -> bool:
        return time.monotonic() < self.stop_at and self.tally.total < self.settings.max_ops

    async def timed(self, kind: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.monotonic()
        try:
            result = await call()
        except grpc.aio.AioRpcError as exc:
            raise Unexpected(f"{kind}:{exc.code().name}") from exc
        except httpx.HTTPError as exc:
            raise Unexpected(f"{kind}:{type(exc).__name__}") from exc
        self.tally.op(kind, started - self.began, time.monotonic() - started)
        return result

    def _headers(self, cookie: str | None = None) -> dict[str, str]:
        headers = {CSRF_HEADER: CSRF_VALUE, "Origin": self.origin}
        if cookie is not None:
            headers["Cookie"] = f"{COOKIE}={cookie}"
        return headers

    async def login(self, email: str) -> tuple[str, str]:
        answer = await self.timed(
            "login",
            lambda: self.client.post(
                "/auth/login",
                json={"email": email, "password": PASSWORD},
                headers=self._headers(),
            ),
        )
        if answer.status_code != 200:
            raise Unexpected(f"login:http_{answer.status_code}")
        return answer.json()["access_token"], _cookie(answer)

    async def refresh(self, cookie: str, kind: str = "refresh") -> httpx.Response:
        return await self.timed(
            kind, lambda: self.client.post("/auth/refresh", headers=self._headers(cookie))
        )

    async def introspect(self, token: str, kind: str) -> pb.IntrospectResponse:
        answer: pb.IntrospectResponse = await self.timed(
            kind,
            lambda: self.identity.Introspect(
                pb.IntrospectRequest(token=token), metadata=self.service_md, timeout=RPC_TIMEOUT
            ),
        )
        return answer

    async def think(self) -> None:
        # ±50 % jitter so the users drift apart instead of marching in step.
        await asyncio.sleep(self.settings.think * random.uniform(0.5, 1.5))

    async def cycle(self, email: str) -> None:
        await self.gate.wait()
        if not self.running():
            return
        access, cookie = await self.login(email)
        info = await self.introspect(access, "introspect_access")
        if not info.active:
            raise Unexpected("introspect_access:inactive_before_revoke")
        sid, sub = info.sid, info.sub
        for _ in range(self.settings.refreshes):
            await self.think()
            if not self.running():
                return
            answer = await self.refresh(cookie)
            if answer.status_code != 200:
                raise Unexpected(f"refresh:http_{answer.status_code}")
            access, cookie = answer.json()["access_token"], _cookie(answer)
            info = await self.introspect(access, "introspect_access")
            if not info.active or info.sid != sid:
                raise Unexpected("introspect_access:inactive_before_revoke")
        await self.think()
        info = await self.introspect(cookie, "introspect_refresh")
        if info.active:
            raise Unexpected("introspect_refresh:active")
        await self.think()
        if not self.running():
            return
        how = REVOKE_KINDS[self.revoke_turn % len(REVOKE_KINDS)]
        self.revoke_turn += 1
        await self.revoke(how, cookie, sid, sub)
        await self.think()
        # The revocation must hold: refusals here are the expected outcome.
        info = await self.introspect(access, "introspect_access_after_revoke")
        if info.active:
            raise Unexpected("introspect_access_after_revoke:still_active")
        self.tally.refused("introspect_access_after_revoke")
        answer = await self.refresh(cookie, "refresh_after_revoke")
        if answer.status_code != 401:
            raise Unexpected(f"refresh_after_revoke:http_{answer.status_code}")
        self.tally.refused("refresh_after_revoke")
        self.tally.cycles += 1

    async def revoke(self, how: str, cookie: str, sid: str, sub: str) -> None:
        if how == "logout_edge":
            answer = await self.timed(
                how, lambda: self.client.post("/auth/logout", headers=self._headers(cookie))
            )
            if answer.status_code != 204:
                raise Unexpected(f"{how}:http_{answer.status_code}")
        elif how == "revoke_session":
            ended: admin_pb2.RevokeSessionResponse = await self.timed(
                how,
                lambda: self.admin.RevokeSession(
                    admin_pb2.RevokeSessionRequest(session_id=sid, reason="soak"),
                    metadata=self.admin_md,
                    timeout=RPC_TIMEOUT,
                ),
            )
            if not ended.revoked:
                raise Unexpected(f"{how}:not_revoked")
        else:
            many: admin_pb2.RevokeUserSessionsResponse = await self.timed(
                how,
                lambda: self.admin.RevokeUserSessions(
                    admin_pb2.RevokeUserSessionsRequest(user_id=sub, reason="soak"),
                    metadata=self.admin_md,
                    timeout=RPC_TIMEOUT,
                ),
            )
            if many.revoked_sessions < 1:
                raise Unexpected(f"{how}:none_revoked")

    async def user(self, email: str) -> None:
        while self.running():
            try:
                await self.cycle(email)
            except Unexpected as exc:
                cause = exc.__cause__
                self.tally.error(str(exc), f"{type(cause).__name__}: {cause}" if cause else "")
                await asyncio.sleep(0.5)  # no tight loop on a failing server
            except Exception as exc:  # a bug of the soak itself, or a malformed answer
                kind = f"other:{type(exc).__name__}"
                self.tally.error(kind, str(exc))
                await asyncio.sleep(0.5)
            await self.think()


async def register_users(channel: grpc.aio.Channel, secret: str, count: int) -> list[str]:
    stub = identity_pb2_grpc.IdentityServiceStub(channel)
    tag = os.urandom(3).hex()
    emails = [f"soak-{tag}-{i}@bench.invalid" for i in range(count)]
    for email in emails:  # one at a time: Argon2 on a single core
        await stub.Register(
            pb.RegisterRequest(email=email, password=PASSWORD),
            metadata=metadata(secret),
            timeout=60.0,
        )
    return emails


# --- sampling ----------------------------------------------------------------------------------


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


# --- the summary -------------------------------------------------------------------------------


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


# --- plots ------------------------------------------------------------------------------------


def plot(samples: list[dict[str, Any]], caption: str, name: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    PLOTS.mkdir(parents=True, exist_ok=True)
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
    paths.append(PLOTS / f"{name}_rss.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

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
    paths.append(PLOTS / f"{name}_fds.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


# --- run ---------------------------------------------------------------------------------------


async def run(settings: Settings, command: str) -> dict[str, Any]:
    pin(CLIENT_CPUS)
    facts = machine()
    samples: list[dict[str, Any]] = []
    extra_env: dict[str, str] = {}
    trace_path = RESULTS / "soak_tracemalloc.txt"
    if settings.tracemalloc:  # an investigation, not the figure: tracing costs memory and CPU
        trace_path.unlink(missing_ok=True)
        extra_env = {
            "BENCH_TRACEMALLOC": str(trace_path),
            "BENCH_TRACEMALLOC_EVERY": str(max(30.0, settings.interval * 12)),
        }
    async with IdentityStack(extra_env) as stack:
        await stack.start(servers=1)
        url = await stack.start_edge()
        channel = grpc.aio.insecure_channel(stack.targets[0])
        emails = await register_users(channel, stack.credentials["edge"], settings.users)
        client = httpx.AsyncClient(
            base_url=url,
            limits=httpx.Limits(max_connections=settings.users + 4),
            timeout=HTTP_TIMEOUT,
        )
        pg = await asyncpg.connect(PG_DSN)  # the postgres database: not counted in the bench db
        try:
            soak = Soak(stack, client, channel, settings, time.monotonic())
            users = [asyncio.create_task(soak.user(email)) for email in emails]
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
            await channel.close()
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
            "tracemalloc": str(trace_path.relative_to(ROOT)) if settings.tracemalloc else None,
            "server_cpus": list(SERVER_CPUS),
            "client_cpus": list(CLIENT_CPUS),
        },
        "summary": result,
        "plots": [],
        "samples": samples,
    }
    if not settings.tracemalloc:
        data["plots"] = [str(p.relative_to(ROOT)) for p in plot(samples, _caption(data), name)]
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
    return plot(data["samples"], _caption(data), name)


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--users", type=int, default=8, help="virtual users (one account each)")
    parser.add_argument("--refreshes", type=int, default=4, help="refreshes per session")
    parser.add_argument("--think", type=float, default=0.2, help="seconds between steps")
    parser.add_argument("--login-rate", type=float, default=2.0, help="logins/s, all users")
    parser.add_argument("--max-ops", type=int, default=500_000, help="stop after this many")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace identity's allocations (bench/results/soak_tracemalloc.txt); "
        "writes soak_tracemalloc.json and no plots",
    )
    parser.add_argument(
        "--replot", action="store_true", help="only redraw NAME's plots from its results"
    )
    parser.add_argument(
        "--name",
        default=None,
        help="results bench/results/NAME.json, plots docs/perf/NAME_{rss,fds}.png "
        "(default soak, or soak_tracemalloc with --tracemalloc)",
    )
    args = parser.parse_args(argv)
    settings = Settings(
        duration=args.duration,
        interval=args.interval,
        users=args.users,
        refreshes=args.refreshes,
        think=args.think,
        login_rate=args.login_rate,
        max_ops=args.max_ops,
        tracemalloc=args.tracemalloc,
        name=args.name or ("soak_tracemalloc" if args.tracemalloc else "soak"),
    )
    if args.replot:
        for path in replot(settings.name):
            print(path)
        return
    command = "python -m bench.soak " + " ".join(argv if argv is not None else sys.argv[1:])
    data = asyncio.run(run(settings, command.strip()))
    print(report(data))


if __name__ == "__main__":
    main()
