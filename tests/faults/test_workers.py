"""Issue 19, every core used: `identity serve --workers N`, N processes on one port.

Real processes on a real PostgreSQL: which worker a connection landed on is read from /proc
(the worker holding the server end of it), so a call can be sent to a chosen worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from contextlib import asynccontextmanager

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from identity.v1 import admin_pb2, admin_pb2_grpc, identity_pb2_grpc
from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD, TEST_MASTER_KEY, remember
from tests.edge.support import edge_client
from tests.faults.processes import ServeProcess, accepted_connections, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Each channel its own connection: grpc shares subchannels between channels by default.
_OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


@asynccontextmanager
async def workers_serving(pg, workers: int = 2, drain_period: int = 1):
    url = await pg.create_database()
    server = ServeProcess(
        url, free_port(), metrics=True, drain_period=drain_period, workers=workers
    )
    try:
        await server.start()
        credentials = {
            role: server.cli("credentials", "create", "--role", role, "--name", f"w-{role}")
            for role in ("edge", "service", "admin")
        }
        yield server, credentials
    finally:
        server.stop()
        await pg.drop_database(url)


async def channel_per_worker(server: ServeProcess) -> dict[int, grpc.aio.Channel]:
    """One ready channel connected to each worker; new connections are opened until the
    kernel has handed one to every worker (it spreads them by a hash of the addresses)."""
    deadline = time.monotonic() + 30
    while len(pids := server.worker_pids()) < 2:
        assert time.monotonic() < deadline, f"workers: {pids}\n{server.log()[-3000:]}"
        await asyncio.sleep(0.1)
    found: dict[int, grpc.aio.Channel] = {}
    spare: list[grpc.aio.Channel] = []
    while len(found) < len(pids):
        assert time.monotonic() < deadline, f"connections reached only {sorted(found)} of {pids}"
        before = accepted_connections(server.port, pids)
        channel = grpc.aio.insecure_channel(server.target, _OWN_CONNECTION)
        await asyncio.wait_for(channel.channel_ready(), 10)
        after = accepted_connections(server.port, pids)
        owners = [pid for pid in pids if after[pid] - before[pid]]
        if len(owners) == 1 and owners[0] not in found:
            found[owners[0]] = channel
        else:
            spare.append(channel)
    for channel in spare:
        await channel.close()
    return found


async def health(channel: grpc.aio.Channel) -> int:
    answer = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=2
    )
    return int(answer.status)


async def test_two_workers_serve_one_port_and_a_revocation_reaches_the_other_within_a_second(pg):
    async with workers_serving(pg) as (server, credentials):
        channels = await channel_per_worker(server)
        assert len(channels) == 2, "two distinct processes answer on the one port"
        (first, one), (second, other) = channels.items()
        edge = (("authorization", f"Bearer {credentials['edge']}"),)
        service = (("authorization", f"Bearer {credentials['service']}"),)
        admin = (("authorization", f"Bearer {credentials['admin']}"),)
        stub = identity_pb2_grpc.IdentityServiceStub(one)
        email = f"workers-{os.urandom(4).hex()}@example.com"
        await stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=edge)
        login = await stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=edge)
        remember(login.access_token)
        remember(login.refresh_token)
        introspect = identity_pb2_grpc.IdentityServiceStub(other).Introspect
        request = pb.IntrospectRequest(token=login.access_token)
        assert (await introspect(request, metadata=service)).active

        since = time.monotonic()
        revoked = await admin_pb2_grpc.IdentityAdminStub(one).RevokeSession(
            admin_pb2.RevokeSessionRequest(session_id=login.session_id, reason="test"),
            metadata=admin,
        )
        assert revoked.revoked
        while (await introspect(request, metadata=service)).active:
            assert time.monotonic() - since < 1.0, f"worker {second} still calls it active"
            await asyncio.sleep(0.005)
        print(
            f"revoked on worker {first}, inactive on worker {second} after "
            f"{(time.monotonic() - since) * 1000:.0f} ms"
        )
        for channel in channels.values():
            await channel.close()


async def test_the_edge_spreads_its_calls_over_every_worker(pg):
    """One edge channel would be one connection, handed to one worker: the edge opens
    EDGE_IDENTITY_CONNECTIONS and takes them in turn (16 here: all on one worker would be a
    1 in 32,768 chance)."""
    async with workers_serving(pg) as (server, credentials):
        for channel in (await channel_per_worker(server)).values():  # both workers accept
            await channel.close()
        pids = server.worker_pids()
        before = accepted_connections(server.port, pids)
        async with edge_client(
            server.target, credentials["edge"], EDGE_IDENTITY_CONNECTIONS="16"
        ) as edge:
            deadline = time.monotonic() + 10
            while True:  # the first call sets every connection up; calls go to ready ones
                answer = await edge.get("/.well-known/jwks.json")
                assert answer.status_code == 200
                after = accepted_connections(server.port, pids)
                gained = {pid: len(after[pid] - before[pid]) for pid in pids}
                if sum(gained.values()) == 16 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        assert sum(gained.values()) == 16, gained
        assert all(gained.values()), f"the edge's connections per worker: {gained}"


async def test_sigterm_drains_every_worker_then_the_parent_exits_cleanly(pg):
    async with workers_serving(pg, drain_period=3) as (server, credentials):
        channels = await channel_per_worker(server)
        pids = list(channels)
        service = (("authorization", f"Bearer {credentials['service']}"),)
        serving = health_pb2.HealthCheckResponse.SERVING
        assert [await health(c) for c in channels.values()] == [serving, serving]

        server.terminate()
        started = time.monotonic()
        # Within the drain period every worker says NOT_SERVING, and still answers calls.
        draining = {pid: False for pid in pids}
        while not all(draining.values()):
            assert time.monotonic() - started < 2.5, f"still SERVING: {draining}"
            for pid, channel in channels.items():
                draining[pid] = await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
            await asyncio.sleep(0.05)
        for channel in channels.values():
            jwks = await identity_pb2_grpc.IdentityServiceStub(channel).GetJwks(
                pb.GetJwksRequest(), metadata=service, timeout=2
            )
            assert jwks.jwks_json
        assert time.monotonic() - started < 3.0, "the checks above outlasted the drain period"

        await asyncio.to_thread(server.exited)  # exit status 0, after every worker stopped
        assert time.monotonic() - started >= 3.0, "stopped before the drain period was over"
        assert not [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
        for channel in channels.values():
            await channel.close()


async def test_a_worker_that_dies_is_reported_and_the_parent_exits_non_zero(pg):
    async with workers_serving(pg) as (server, _):
        channels = await channel_per_worker(server)
        victim, survivor = list(channels)
        os.kill(victim, signal.SIGKILL)
        assert server.proc is not None
        code = await asyncio.to_thread(server.proc.wait, 30)
        assert code == 1
        assert f"(pid {victim}) ended: killed by SIGKILL; stopping the others" in server.log()
        assert f"(pid {survivor}) stopped" in server.log()  # drained, as on SIGTERM
        assert not os.path.exists(f"/proc/{survivor}")
        for channel in channels.values():
            await channel.close()


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "identity.cli", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("how", ["variable", "flag"])
def test_sqlite_refuses_more_than_one_worker_and_says_why(tmp_path, how):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_")}
    env.update(
        IDENTITY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}",
        IDENTITY_MASTER_KEY=TEST_MASTER_KEY,
        IDENTITY_MIGRATE="true",
        IDENTITY_GRPC_LISTEN=f"127.0.0.1:{free_port()}",
    )
    if how == "variable":
        result = _serve({**env, "IDENTITY_WORKERS": "2"})
    else:
        result = _serve(env, "--workers", "2")
    assert result.returncode == 2
    assert "IDENTITY_WORKERS=2: SQLite is served by one process" in result.stderr
    assert "use PostgreSQL to run more workers" in result.stderr


async def test_sqlite_serves_in_one_process_by_default_and_says_so(tmp_path):
    server = ServeProcess(
        f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}", free_port(), workers=None
    )
    try:
        await server.start()
        assert "SQLite: one process serves (IDENTITY_WORKERS needs PostgreSQL)" in server.log()
        assert server.worker_pids() == []
        server.terminate()
        await asyncio.to_thread(server.exited)
    finally:
        server.stop()


def test_the_worker_count_is_checked_against_its_range(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_")}
    env.update(
        IDENTITY_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/none",
        IDENTITY_MASTER_KEY=TEST_MASTER_KEY,
    )
    result = _serve(env, "--workers", "0")
    assert result.returncode == 2
    assert "IDENTITY_WORKERS: must be between 1 and 256" in result.stderr
    result = _serve({**env, "IDENTITY_GRPC_LISTEN": "127.0.0.1:0"}, "--workers", "2")
    assert result.returncode == 2 and "workers share one port, so it cannot be 0" in result.stderr
