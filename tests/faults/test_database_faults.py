"""Issue 7: PostgreSQL restarted in the middle of a refresh load (a throwaway cluster)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import asyncpg
import httpx
import pytest

from identity.app import IdentityApp
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc
from tests.conftest import PASSWORD, make_channel, remember, settings_for
from tests.edge.support import COOKIE, CSRF, edge_client, set_cookies
from tests.faults.chains import Chain, check_chains, refresh_storm
from tests.pg import ThrowawayCluster

pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster():
    made = ThrowawayCluster()
    await asyncio.to_thread(made.start)
    yield made
    await asyncio.to_thread(made.stop)


async def edge_refresh(edge: httpx.AsyncClient, chain: Chain) -> httpx.Response:
    """One refresh through the edge with the chain's cookie; the chain follows a rotation."""
    response = await edge.post(
        "/auth/refresh", headers={**CSRF, "Cookie": f"{COOKIE}={chain.token}"}
    )
    if response.status_code == 200:
        (header,) = set_cookies(response)
        chain.token = header.split("=", 1)[1].split(";", 1)[0]
        remember(chain.token)
        remember(response.json()["access_token"])
        chain.rotations += 1
    return response


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
        for i in range(12):
            email = f"db-{i}-{os.urandom(3).hex()}@example.com"
            await stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=md)
            answer = await stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=md)
            chains.append(Chain(email, answer.refresh_token, answer.session_id))
        await channel.close()
        # Two chains are held back from the gRPC storm and refreshed through an edge instead.
        browser_chains, chains = chains[:2], chains[2:]
        during_outage: list[httpx.Response] = []

        async def restart(edge: httpx.AsyncClient) -> None:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.pg_ctl, "stop")
            for chain in browser_chains:  # the database is down: the edge must say 503
                during_outage.append(await edge_refresh(edge, chain))
            await asyncio.sleep(1.5)  # a real outage, not just a blip
            await asyncio.to_thread(cluster.pg_ctl, "start")

        async with edge_client(target, credential) as edge:
            for chain in browser_chains:
                assert (await edge_refresh(edge, chain)).status_code == 200
            # The edge's deadline is 5 s: nothing may hang that long.
            await asyncio.gather(
                refresh_storm(target, credential, chains, seconds=6.0, deadline=5.0),
                restart(edge),
            )
            errors = sum((c.errors for c in chains), start=Counter[str]())
            assert errors["UNAVAILABLE"] > 0, "the outage was not felt"
            assert set(errors) == {"UNAVAILABLE"}, errors
            for response in during_outage:
                assert response.status_code == 503, response.text
                assert response.headers.get_list("set-cookie") == [], "the cookie was touched"
                assert response.headers["content-type"] == "application/problem+json"
            # Service resumed without restarting identity: every chain rotated after the
            # outage, the browser ones with the very cookie they held through it.
            before = [c.rotations for c in chains]
            await refresh_storm(target, credential, chains, seconds=1.0)
            assert all(c.rotations > b for c, b in zip(chains, before, strict=True))
            for chain in browser_chains:
                assert (await edge_refresh(edge, chain)).status_code == 200
        await check_chains(url, [*chains, *browser_chains])
    finally:
        await app.stop(grace=0.5)
