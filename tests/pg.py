"""PostgreSQL for the tests: the server at IDENTITY_TEST_PG_DSN (default the local one), or, when
none answers, a throwaway cluster made from the installed server binaries. Never a skip."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _answers(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayCluster:
    """initdb + pg_ctl in a temporary folder, run as the `postgres` user when we are root."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError(
                "no PostgreSQL server reachable and no server binaries installed "
                "(apt-get install postgresql)"
            )
        self.bin = Path(bins[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="identity-pg-"))
        self.port = _free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, capture_output=True)

    def start(self) -> None:
        data = str(self.dir / "data")
        self._run(
            str(self.bin / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            data,
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            f"-p {self.port} -h 127.0.0.1 -k {self.dir}",
            "start",
        )

    def pg_ctl(self, action: str) -> None:
        """`stop` / `start` / `restart` the server (fast shutdown: open connections are cut)."""
        data = str(self.dir / "data")
        options = ["-o", f"-p {self.port} -h 127.0.0.1 -k {self.dir}", "-l", str(self.dir / "log")]
        extra = options if action != "stop" else []
        self._run(str(self.bin / "pg_ctl"), "-D", data, "-m", "fast", "-w", *extra, action)

    def stop(self) -> None:
        self.pg_ctl("stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class PgServer:
    def __init__(self) -> None:
        self.dsn = os.environ.get("IDENTITY_TEST_PG_DSN", DEFAULT_DSN)
        self.cluster: ThrowawayCluster | None = None

    async def start(self) -> None:
        if await _answers(self.dsn):
            return
        self.cluster = ThrowawayCluster()
        self.cluster.start()
        self.dsn = self.cluster.dsn
        deadline = time.monotonic() + 30
        while not await _answers(self.dsn):
            if time.monotonic() > deadline:
                raise RuntimeError("throwaway PostgreSQL did not start")
            await asyncio.sleep(0.2)

    async def create_database(self) -> str:
        """A fresh database; refuses to reuse one. Returns its SQLAlchemy asyncpg URL."""
        name = "identity_test_" + uuid.uuid4().hex[:12]
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        base = self.dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        return f"{base}/{name}"

    async def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
