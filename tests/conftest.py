"""Shared fixtures: real PostgreSQL and SQLite databases, identity on a real gRPC port."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from identity.app import IdentityApp
from identity.config import Settings
from identity.domain.clock import Clock
from identity.domain.master_key import MasterKey
from identity.v1 import admin_pb2_grpc, identity_pb2_grpc
from tests.pg import PgServer

BACKENDS = ("sqlite", "postgres")
# Fixed test master key, clearly a fixture (secret scanners: not a real secret).
TEST_MASTER_KEY = base64.b64encode(b"identity-tests-fixture-key-32byt").decode()


def test_settings(database_url: str, **overrides: Any) -> Settings:
    settings = Settings(
        database_url=database_url,
        master_key=MasterKey.from_base64(TEST_MASTER_KEY),
        grpc_listen="127.0.0.1:0",
        migrate=True,
        hash_workers=2,
    )
    return replace(settings, **overrides)


@pytest.fixture(scope="session")
async def pg() -> AsyncIterator[PgServer]:
    server = PgServer()
    await server.start()
    yield server
    server.stop()


@dataclass
class Running:
    """A started identity: its gRPC target, one credential per role, and stubs."""

    app: IdentityApp
    target: str
    credentials: dict[str, str]
    channel: grpc.aio.Channel
    backend: str

    @property
    def stub(self) -> identity_pb2_grpc.IdentityServiceStub:
        return identity_pb2_grpc.IdentityServiceStub(self.channel)

    @property
    def admin_stub(self) -> admin_pb2_grpc.IdentityAdminStub:
        return admin_pb2_grpc.IdentityAdminStub(self.channel)

    def md(self, role: str = "edge", ip: str = "203.0.113.7", user_agent: str = "pytest") -> tuple[tuple[str, str], ...]:
        return (
            ("authorization", f"Bearer {self.credentials[role]}"),
            ("x-client-ip", ip),
            ("x-client-user-agent", user_agent),
        )


StartIdentity = Callable[..., Awaitable[Running]]


@pytest.fixture(scope="session")
async def start_identity(pg: PgServer) -> AsyncIterator[StartIdentity]:
    """Factory: start an identity on a new database of the given backend, with overrides."""
    started: list[tuple[Running, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="identity-sqlite-"))

    async def start(backend: str = "sqlite", clock: Clock | None = None, **overrides: Any) -> Running:
        if backend == "postgres":
            url = await pg.create_database()
        else:
            url = f"sqlite+aiosqlite:///{tmp / (os.urandom(6).hex() + '.db')}"
        app = IdentityApp(test_settings(url, **overrides), clock=clock)
        port = await app.start()
        credentials = {role: await app.create_credential(role, f"test-{role}") for role in ("edge", "service", "admin")}
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        running = Running(app, f"127.0.0.1:{port}", credentials, channel, backend)
        started.append((running, url))
        return running

    yield start
    for running, url in started:
        await running.channel.close()
        await running.app.stop(grace=0.5)
        if running.backend == "postgres":
            await pg.drop_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
async def identity_server(request: pytest.FixtureRequest, start_identity: StartIdentity) -> Running:
    """One shared identity per backend for tests that need no special settings."""
    return await start_identity(request.param)


@pytest.fixture
def unique_email() -> Callable[[], str]:
    def make() -> str:
        return f"user-{os.urandom(5).hex()}@example.com"
    return make


PASSWORD = "correct horse battery staple"
