"""AV-04 / issue 7: identity killed with SIGKILL during a refresh storm, then restarted."""

from __future__ import annotations

import asyncio
import os
import signal

import grpc
import pytest

from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc
from tests.conftest import PASSWORD
from tests.faults.chains import Chain, check_chains, refresh_storm
from tests.faults.processes import ServeProcess, free_port

pytestmark = pytest.mark.slow


async def _open_chains(target: str, credential: str, count: int) -> list[Chain]:
    channel = grpc.aio.insecure_channel(target)
    stub = identity_pb2_grpc.IdentityServiceStub(channel)
    md = (("authorization", f"Bearer {credential}"),)
    chains = []
    for i in range(count):
        email = f"storm-{i}-{os.urandom(3).hex()}@example.com"
        await stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=md)
        answer = await stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=md)
        chains.append(Chain(email, answer.refresh_token, answer.session_id))
    await channel.close()
    return chains


async def test_sigkill_mid_storm_leaves_every_chain_with_one_live_token(pg):
    url = await pg.create_database()
    server = ServeProcess(url, free_port())
    try:
        server.cli("migrate")
        credential = server.cli("credentials", "create", "--role", "edge", "--name", "storm")
        await server.start()
        chains = await _open_chains(server.target, credential, 20)

        async def chaos() -> None:
            await asyncio.sleep(1.0)
            server.kill()
            await asyncio.sleep(0.5)
            await server.start()

        await asyncio.gather(
            refresh_storm(server.target, credential, chains, seconds=5.0, lose_responses=0.3),
            chaos(),
        )
        # Every client recovers with the token it holds (rotation or grace replay)...
        await refresh_storm(server.target, credential, chains, seconds=0.5)
        assert all(c.rotations > 0 for c in chains)
        assert sum(c.errors["UNAVAILABLE"] for c in chains) > 0, (
            "the kill was not felt: no fault injected"
        )
        assert sum(c.errors["DEADLINE_EXCEEDED"] for c in chains) > 0, "no response was lost"
        assert not any(set(c.errors) - {"UNAVAILABLE", "DEADLINE_EXCEEDED"} for c in chains), [
            c.errors for c in chains
        ]
        # ...and the database agrees: one live token per chain, no false reuse.
        await check_chains(url, chains)
    finally:
        server.stop()
        await pg.drop_database(url)


async def test_sigterm_lets_in_flight_calls_finish_then_refuses_new_ones(pg):
    url = await pg.create_database()
    # No drain: the calls in flight must be finished by the stop's grace period itself.
    server = ServeProcess(url, free_port(), drain_period=0)
    try:
        server.cli("migrate")
        credential = server.cli("credentials", "create", "--role", "edge", "--name", "drain")
        await server.start()
        channel = grpc.aio.insecure_channel(server.target)
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        md = (("authorization", f"Bearer {credential}"),)
        email = f"drain-{os.urandom(3).hex()}@example.com"
        await stub.Register(pb.RegisterRequest(email=email, password=PASSWORD), metadata=md)
        # Eight logins queue on the Argon2 pool (two at a time): still running at SIGTERM.
        # (Eight stays under the pool's shed limit, workers + 4 x workers, on a 2-core machine.)
        in_flight = [
            asyncio.ensure_future(
                stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=md, timeout=20)
            )
            for _ in range(8)
        ]
        # Once one answer is back, all eight streams were opened on the server (one channel,
        # sent together); the rest are still waiting for the hash pool.
        done, pending = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        assert pending, "every login finished before the signal: nothing was in flight"
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        answers = await asyncio.gather(*in_flight, return_exceptions=True)
        failed = [a for a in answers if not isinstance(a, pb.TokenResponse)]
        assert not failed, failed
        assert await asyncio.to_thread(server.proc.wait, 20) == 0
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetJwks(pb.GetJwksRequest(), timeout=2)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        await channel.close()
    finally:
        server.stop()
        await pg.drop_database(url)
