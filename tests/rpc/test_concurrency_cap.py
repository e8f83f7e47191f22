"""Checklist GA-11: a flood of calls beyond IDENTITY_MAX_CONCURRENT_RPCS is refused at once with
RESOURCE_EXHAUSTED, wave after wave (grpc.aio's limiter used to stop counting after its first
refusals, grpc/grpc#41531), and the server serves normally afterwards."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD
from tests.helpers import login, register_and_login

CAP = 4
WAVE = CAP + 5


async def test_every_wave_beyond_the_cap_is_refused_and_the_rest_served(
    start_identity, unique_email
):
    s = await start_identity("sqlite", max_concurrent_rpcs=CAP)
    email = unique_email()
    await register_and_login(s, email)

    async def one() -> str:
        # A login holds its slot for at least one Argon2 verification (tens of milliseconds),
        # far longer than the sub-millisecond spread of a wave's arrivals.
        try:
            await s.stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=s.md())
        except grpc.aio.AioRpcError as error:
            return error.code().name
        return "OK"

    for wave in range(3):
        outcomes = await asyncio.gather(*(one() for _ in range(WAVE)))
        refused = outcomes.count("RESOURCE_EXHAUSTED")
        assert refused >= WAVE - CAP, f"wave {wave}: {outcomes}"
        assert outcomes.count("OK") + refused == WAVE, f"wave {wave}: {outcomes}"
        assert "OK" in outcomes, f"wave {wave}: {outcomes}"

    health = health_pb2_grpc.HealthStub(s.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert (await login(s, email)).access_token
