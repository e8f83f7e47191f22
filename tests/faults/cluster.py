"""Several `identity serve` processes on one PostgreSQL database behind one edge, and browsers
that sign up and refresh through it (tests/faults/test_replicas.py, test_rolling_restart.py)."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import jwt

from identity.domain.clock import SystemClock
from identity.persistence.database import create_engine, migrate
from identity.persistence.uow import SqlUnitOfWorkFactory
from identity.services.service_accounts import create_credential
from tests.conftest import PASSWORD, remember
from tests.edge.support import edge_client, set_cookies
from tests.faults.chains import Chain
from tests.faults.processes import ServeProcess, free_port

COOKIE = "__Secure-refresh_token"
CSRF = {"X-Requested-With": "auth-client"}


@dataclass
class User:
    """A browser: its address, its refresh cookie, what its calls met."""

    email: str
    ip: str
    cookie: str
    session_id: str
    access_token: str
    failures: list[httpx.Response] = field(default_factory=list)

    @property
    def chain(self) -> Chain:
        return Chain(self.email, self.cookie, self.session_id)


@dataclass
class Cluster:
    url: str
    replicas: list[ServeProcess]
    credentials: dict[str, str]
    edge: httpx.AsyncClient

    async def sign_up(self) -> User:
        """Register and log in through the edge, from an address of its own."""
        email = f"replica-{os.urandom(4).hex()}@example.com"
        ip = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"
        headers = {"X-Forwarded-For": ip}
        created = await self.edge.post(
            "/auth/register", json={"email": email, "password": PASSWORD}, headers=headers
        )
        assert created.status_code == 201, created.text
        response = await self.edge.post(
            "/auth/login", json={"email": email, "password": PASSWORD}, headers=headers
        )
        assert response.status_code == 200, response.text
        access = response.json()["access_token"]
        remember(access)
        sid = jwt.decode(access, options={"verify_signature": False})["sid"]
        return User(email, ip, cookie_set_by(response), sid, access)

    async def refresh(self, user: User, cookie: str | None = None) -> httpx.Response:
        headers = {
            **CSRF,
            "X-Forwarded-For": user.ip,
            "Cookie": f"{COOKIE}={cookie or user.cookie}",
        }
        response = await self.edge.post("/auth/refresh", headers=headers)
        if response.status_code == 200:
            remember(response.json()["access_token"])
        return response

    async def calls(self, method: str) -> list[int]:
        """How many `method` calls each replica has handled so far."""
        counts = await asyncio.gather(*(r.rpc_counts() for r in self.replicas))
        return [c.get(method, 0) for c in counts]

    def md(self, role: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.credentials[role]}"),)


def cookie_set_by(response: httpx.Response) -> str:
    """The value of the one refresh cookie a response sets (asserting there is exactly one)."""
    (header,) = set_cookies(response)
    name, _, rest = header.partition("=")
    assert name == COOKIE, header
    value = rest.split(";", 1)[0]
    assert value, f"the cookie was cleared: {header}"
    remember(value)
    return value


@asynccontextmanager
async def running_cluster(pg, replicas: int, drain_period: int = 1) -> AsyncIterator[Cluster]:
    """A fresh database, `replicas` `identity serve` processes on it (each draining for
    `drain_period` seconds on SIGTERM), one edge over all of them."""
    url = await pg.create_database()
    engine = create_engine(url)
    processes: list[ServeProcess] = []
    try:
        await migrate(engine, url)
        uow = SqlUnitOfWorkFactory(engine)
        credentials = {
            role: await create_credential(uow, role, f"replicas-{role}", SystemClock())
            for role in ("edge", "service", "admin")
        }
        await engine.dispose()
        # Started together on an empty database: they race to make the first signing key.
        processes = [
            ServeProcess(url, free_port(), metrics=True, drain_period=drain_period)
            for _ in range(replicas)
        ]
        await asyncio.gather(*(r.start() for r in processes))
        target = "ipv4:" + ",".join(r.target for r in processes)
        async with edge_client(target, credentials["edge"]) as edge:
            yield Cluster(url, processes, credentials, edge)
    finally:
        await asyncio.gather(*(asyncio.to_thread(r.stop) for r in processes))
        await engine.dispose()
        await pg.drop_database(url)
