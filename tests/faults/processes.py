"""Real `identity serve` processes for the fault tests: started, frozen, killed, scraped."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_MASTER_KEY

_QUICK_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 200),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent`, from /proc (field 4 of each stat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            if int(stat.rpartition(")")[2].split()[1]) == parent:
                found.append(int(entry.name))
    return sorted(found)


def accepted_connections(server_port: int, pids: list[int]) -> dict[int, set[str]]:
    """For each of `pids`, the established TCP connections it holds whose local port is
    `server_port` (as socket inodes, from /proc/net/tcp{,6} and the process's descriptors;
    gRPC listens on IPv6 sockets, with IPv4 peers mapped)."""
    port = f":{server_port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(port) and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(f"socket:[{fields[9]}]")
    held: dict[int, set[str]] = {}
    for pid in pids:
        held[pid] = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile
            if link in inodes:
                held[pid].add(link)
    return held


class ServeProcess:
    """One `identity serve`; with `metrics=True` it also serves Prometheus /metrics. Its JSON log
    goes to a file, shown when it fails to start. On SIGTERM it drains for `drain_period`
    seconds (IDENTITY_DRAIN_PERIOD; shorter than the default, to keep the tests short). With
    `workers` > 1 it is the parent of that many worker processes (`worker_pids`)."""

    def __init__(
        self,
        database_url: str,
        port: int,
        *,
        metrics: bool = False,
        drain_period: int = 1,
        workers: int | None = 1,
    ) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_")}
        self.env.update(
            IDENTITY_DATABASE_URL=database_url,
            IDENTITY_MASTER_KEY=TEST_MASTER_KEY,
            IDENTITY_MIGRATE="true",
            IDENTITY_GRPC_LISTEN=f"127.0.0.1:{port}",
            IDENTITY_DRAIN_PERIOD=str(drain_period),
        )
        if workers is not None:  # one process per replica unless asked (the default is per core)
            self.env["IDENTITY_WORKERS"] = str(workers)
        self.port = port
        self.target = f"127.0.0.1:{port}"
        self.metrics_url = ""
        if metrics:
            metrics_port = free_port()
            self.env["IDENTITY_METRICS_LISTEN"] = f"127.0.0.1:{metrics_port}"
            self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.log_path = Path(tempfile.mkstemp(prefix="identity-serve-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "identity.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "identity.cli", "serve"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        # Short reconnect backoff: the first attempts fail while the process imports.
        channel = grpc.aio.insecure_channel(self.target, _QUICK_RECONNECT)
        try:
            async with asyncio.timeout(30):
                while True:
                    if self.proc.poll() is not None:
                        raise RuntimeError(f"identity serve exited:\n{self.log()[-3000:]}")
                    try:
                        await asyncio.wait_for(channel.channel_ready(), timeout=0.5)
                        break
                    except TimeoutError:
                        continue
        finally:
            await channel.close()

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        return child_pids(self.proc.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM, as a deploy sends it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def exited(self) -> None:
        """Waits for the process to exit, which must be cleanly (0)."""
        assert self.proc is not None
        code = self.proc.wait(timeout=30)
        assert code == 0, f"identity serve exited with {code}:\n{self.log()[-3000:]}"

    async def serving(self) -> bool:
        """Whether its grpc.health.v1 status (the server as a whole) is SERVING."""
        async with grpc.aio.insecure_channel(self.target) as channel:
            try:
                answer = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=1
                )
            except grpc.aio.AioRpcError:
                return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing, as in a long stall."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log_path.unlink(missing_ok=True)

    async def rpc_counts(self) -> dict[str, int]:
        """Calls this process has handled, by gRPC method, from its own /metrics."""
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(self.metrics_url)
        response.raise_for_status()
        counts: dict[str, int] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "identity_rpc_seconds_count":
                    counts[sample.labels["method"]] = int(sample.value)
        return counts
