"""Real processes for the load benchmarks: a throwaway PostgreSQL database, `identity serve`
and `edge-http serve`, each pinned with taskset and stopped at the end, and the accounts a run
logs in with.

PostgreSQL: BENCH_PG_DSN (default postgresql://postgres@127.0.0.1:5432/postgres); each stack
creates a database `bench_<random>` and drops it on close.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench._common import ROOT, SERVER_CPUS, taskset
from bench.procfs import proc_cpu_seconds
from bench.serve_counted import read_count
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc

PG_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "correct horse battery staple bench"  # 34 chars, not in the common list


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Database:
    """A throwaway database on the PostgreSQL server."""

    def __init__(self) -> None:
        self.name = "bench_" + secrets.token_hex(4)
        base, _, _ = PG_DSN.rpartition("/")
        self.dsn = f"{base}/{self.name}"
        self.url = "postgresql+asyncpg://" + self.dsn.split("://", 1)[1]

    async def create(self) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await conn.close()

    async def drop(self) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()


class Process:
    """A child process pinned to `cpus`, output in a log file, stopped with SIGTERM."""

    def __init__(
        self, name: str, argv: Sequence[str], env: dict[str, str], cpus: Sequence[int]
    ) -> None:
        self.name = name
        self.log = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
        self._out = self.log.open("w")
        self.popen = subprocess.Popen(
            [*taskset(cpus), *argv],
            env=env,
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.popen.pid)

    def check(self) -> None:
        if self.popen.poll() is not None:
            tail = self.log.read_text()[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._out.close()


async def wait_grpc_serving(target: str, proc: Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            proc.check()
            try:
                answer = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{proc.name} not serving after {timeout}s")
            await asyncio.sleep(0.2)


async def wait_http(url: str, proc: Process, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            proc.check()
            try:
                if (await client.get(url, timeout=1.0)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{proc.name} not ready after {timeout}s")
            await asyncio.sleep(0.2)


class IdentityStack:
    """One throwaway database and 1..n `identity serve` processes over it, a gRPC channel to each,
    started on `async with` and stopped (database dropped) on leaving it."""

    def __init__(
        self,
        servers: int = 1,
        cpus: Sequence[int] = SERVER_CPUS,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.db = Database()
        self.master_key = base64.b64encode(os.urandom(32)).decode()
        self.extra_env = extra_env or {}
        self.n_servers = servers
        self.cpus = cpus
        self.servers: list[Process] = []
        self.targets: list[str] = []
        self.channels: list[grpc.aio.Channel] = []
        self.count_files: list[str] = []
        self.edges: list[Process] = []
        self.edge_urls: list[str] = []
        self.credentials: dict[str, str] = {}

    def env(self, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "EDGE_"))}
        env.update(
            IDENTITY_DATABASE_URL=self.db.url,
            IDENTITY_MASTER_KEY=self.master_key,
            IDENTITY_MIGRATE="true",
            IDENTITY_LOG_LEVEL="WARNING",
            # Every benchmark account signs up from 127.0.0.1: the per-IP registration
            # throttle (20 in a streak by default) would refuse the rest.
            IDENTITY_REGISTRATIONS_PER_IP="1000000",
            # One process per server (pinned and measured as one); bench.workers asks for more.
            IDENTITY_WORKERS="1",
            EDGE_WORKERS="1",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        env.update(more)
        # An empty value unsets the variable: the server's own default applies.
        return {k: v for k, v in env.items() if v != ""}

    async def start(self) -> IdentityStack:
        await self.db.create()
        for i in range(self.n_servers):
            await self.add_server(self.cpus, first=i == 0)
        for role in ("service", "edge", "admin"):
            self.credentials[role] = self.create_credential(role, f"bench-{role}")
        return self

    async def add_server(
        self, cpus: Sequence[int], *, first: bool = False, name: str = "", **env: str
    ) -> str:
        """One more `identity serve` (through bench.serve_counted), `env` added to its own."""
        port = free_port()
        target = f"127.0.0.1:{port}"
        count_file = tempfile.mkstemp(prefix="bench-sql-count-")[1]
        proc = Process(
            name or f"identity{len(self.servers)}",
            [sys.executable, "-m", "bench.serve_counted", "serve"],
            self.env(IDENTITY_GRPC_LISTEN=target, BENCH_SQL_COUNT_FILE=count_file, **env),
            cpus,
        )
        self.servers.append(proc)
        self.targets.append(target)
        self.count_files.append(count_file)
        # The first server migrates; later ones start on a schema already at head.
        await wait_grpc_serving(target, proc, timeout=90.0 if first else 60.0)
        self.channels.append(grpc.aio.insecure_channel(target))
        return target

    def create_credential(self, role: str, name: str) -> str:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "identity.cli",
                "credentials",
                "create",
                "--role",
                role,
                "--name",
                name,
            ],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"credentials create failed: {result.stderr[-2000:]}")
        return result.stdout.strip().splitlines()[-1].strip()

    async def start_edge(self, cpus: Sequence[int] = SERVER_CPUS, target: str | None = None) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = Process(
            f"edge{len(self.edges)}",
            [sys.executable, "-m", "edge_http.cli", "serve"],
            self.env(
                EDGE_LISTEN=f"127.0.0.1:{port}",
                EDGE_IDENTITY_TARGET=target or ",".join(self.targets),
                EDGE_IDENTITY_CREDENTIAL=self.credentials["edge"],
                EDGE_ALLOWED_ORIGINS=url,
                EDGE_LOG_LEVEL="WARNING",
            ),
            cpus,
        )
        self.edges.append(proc)
        self.edge_urls.append(url)
        await wait_http(url + "/healthz", proc)
        return url

    def sql_statements(self) -> int:
        return sum(read_count(path) for path in self.count_files)

    def server_cpu_seconds(self) -> float:
        return sum(p.cpu_seconds() for p in self.servers)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        for proc in [*self.edges, *self.servers]:
            proc.stop()
        for path in self.count_files:
            Path(path).unlink(missing_ok=True)
        try:
            await self.db.drop()
        except Exception as exc:  # report, never hide the benchmark's own error
            print(f"warning: could not drop {self.db.name}: {exc}", file=sys.stderr)

    async def __aenter__(self) -> IdentityStack:
        try:
            return await self.start()
        except BaseException:
            await self.close()
            raise

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def metadata(secret: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret}"),)


def emails(prefix: str, count: int) -> list[str]:
    """`count` addresses no earlier run used (the tag is random)."""
    tag = secrets.token_hex(3)
    return [f"{prefix}-{tag}-{i}@bench.invalid" for i in range(count)]


async def register(channel: grpc.aio.Channel, edge_secret: str, addresses: list[str]) -> None:
    """Register each address, one at a time (Argon2 on a single core)."""
    stub = identity_pb2_grpc.IdentityServiceStub(channel)
    for email in addresses:
        await stub.Register(
            pb.RegisterRequest(email=email, password=PASSWORD),
            metadata=metadata(edge_secret),
            timeout=60.0,
        )


async def register_and_login(
    channel: grpc.aio.Channel, edge_secret: str, count: int, prefix: str, concurrency: int = 2
) -> list[pb.TokenResponse]:
    """`count` users, each registered and logged in once: one session (chain) per user."""
    stub = identity_pb2_grpc.IdentityServiceStub(channel)
    md = metadata(edge_secret)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(email: str) -> pb.TokenResponse:
        async with semaphore:
            await stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=md)
            answer: pb.TokenResponse = await stub.Login(
                pb.LoginRequest(email=email, password=PASSWORD, client_id="web"), metadata=md
            )
            return answer

    return list(await asyncio.gather(*(one(email) for email in emails(prefix, count))))
