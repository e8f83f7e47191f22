"""Issue 7: PostgreSQL restarted in the middle of a refresh load (a throwaway cluster)."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest

from identity.app import IdentityApp
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc
from tests.conftest import PASSWORD, make_channel, settings_for
from tests.faults.chains import Chain, check_chains, refresh_storm
from tests.pg import ThrowawayCluster

pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster():
    made = ThrowawayCluster()
    await asyncio.to_thread(made.start)
    yield made
    await asyncio.to_thread(made.stop)


async def test_a_database_restart_mid_storm_costs_only_unavailable_answers(cluster):
    admin = await asyncpg.connect(cluster.dsn)
    await admin.execute('CREATE DATABASE "storm"')
    await admin.close()
    url = cluster.dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/storm"
    app = IdentityApp(settings_for(url))
    port = await app.start()
    target = f"127.0.0.1:{port}"
    try:
        credential = await app.create_credential("edge", "storm")
        channel = make_channel(target)
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        md = (("authorization", f"Bearer {credential}"),)
        chains = []
        for i in range(10):
            email = f"db-{i}-{os.urandom(3).hex()}@example.com"
            await stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=md)
            answer = await stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=md)
            chains.append(Chain(email, answer.refresh_token, answer.session_id))
        await channel.close()

        async def restart() -> None:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.pg_ctl, "stop")
            await asyncio.sleep(1.5)  # a real outage, not just a blip
            await asyncio.to_thread(cluster.pg_ctl, "start")

        # The edge's deadline is 5 s: nothing may hang that long.
        await asyncio.gather(
            refresh_storm(target, credential, chains, seconds=6.0, deadline=5.0), restart()
        )
        errors = sum((c.errors for c in chains), start=__import__("collections").Counter())
        assert errors["UNAVAILABLE"] > 0, "the outage was not felt"
        assert set(errors) == {"UNAVAILABLE"}, errors
        # Service resumed without restarting identity: every chain rotated after the outage.
        before = [c.rotations for c in chains]
        await refresh_storm(target, credential, chains, seconds=1.0)
        assert all(c.rotations > b for c, b in zip(chains, before, strict=True))
        await check_chains(url, chains)
    finally:
        await app.stop(grace=0.5)
