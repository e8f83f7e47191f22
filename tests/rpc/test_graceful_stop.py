"""Checklist AV-05, in order: on stop, health turns NOT_SERVING (watchers are told), a call in
flight finishes within the grace period, a new call is refused, and the stop completes.
(`identity serve` wires SIGTERM to this stop: tests/rpc/test_cli.py sends the signal.)"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc as pb_grpc
from tests.conftest import PASSWORD
from tests.helpers import register_and_login, until_hashes_in_flight


async def test_stop_says_not_serving_finishes_calls_in_flight_and_refuses_new_ones(
    start_identity, unique_email
):
    # One slow hash worker: a login stays in flight for a few hundred milliseconds.
    s = await start_identity("sqlite", hash_workers=1, argon2_time_cost=30)
    email = unique_email()
    await register_and_login(s, email)
    health = health_pb2_grpc.HealthStub(s.channel)
    watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING

    in_flight = asyncio.ensure_future(
        s.stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=s.md())
    )
    await until_hashes_in_flight(1)
    stopping = asyncio.ensure_future(s.app.stop(grace=10.0))

    update = await asyncio.wait_for(watch.read(), 5)
    assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
    watch.cancel()  # an open stream would otherwise hold the stop for the whole grace period

    # Once the server stops listening, a new call gets nowhere; the one in flight goes on.
    host, port = s.target.rsplit(":", 1)
    while await _accepts(host, int(port)):
        assert not in_flight.done(), "the login ended before the server stopped listening"
        await asyncio.sleep(0.005)
    channel = grpc.aio.insecure_channel(s.target)
    try:
        late = pb_grpc.IdentityServiceStub(channel).GetJwks(pb.GetJwksRequest(), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await late
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await channel.close()

    answer = await asyncio.wait_for(in_flight, 10)  # it finished, inside the grace period
    assert answer.access_token
    await asyncio.wait_for(stopping, 15)


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True


async def test_drain_says_not_serving_while_it_still_serves_for_the_drain_period(
    start_identity, unique_email
):
    """Issue 22: on SIGTERM `identity serve` drains first (IDENTITY_DRAIN_PERIOD): callers that
    follow health move away while this replica still answers whatever reaches it."""
    s = await start_identity("sqlite")
    email = unique_email()
    await register_and_login(s, email)
    health = health_pb2_grpc.HealthStub(s.channel)
    started = asyncio.get_running_loop().time()
    draining = asyncio.ensure_future(s.app.drain(1.0))
    await asyncio.sleep(0)
    for service in ("", "identity.v1.IdentityService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING, service
    # Still serving: a login (a password hash) and a key set, while health says NOT_SERVING.
    login = await s.stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=s.md())
    assert login.access_token and (await s.stub.GetJwks(pb.GetJwksRequest())).jwks_json
    assert not draining.done()
    await draining
    assert asyncio.get_running_loop().time() - started >= 1.0
    await s.app.stop(grace=5)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await s.stub.GetJwks(pb.GetJwksRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
