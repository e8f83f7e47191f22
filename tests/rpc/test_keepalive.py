"""Checklist GA-12: the server's keepalive policy is explicit (identity/rpc/server.py): a
client that pings every second without calls is sent GOAWAY (ENHANCE_YOUR_CALM,
"too_many_pings", seen in gRPC's client log after ~3 s) and loses its connection; a
well-behaved client on the same server is not affected."""

from __future__ import annotations

import asyncio

import grpc

from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc as pb_grpc

PESTER = [
    ("grpc.keepalive_time_ms", 1000),
    ("grpc.keepalive_timeout_ms", 5000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


async def test_a_client_pinging_every_second_is_told_to_calm_down(identity_server):
    s = identity_server
    pest = grpc.aio.insecure_channel(s.target, options=PESTER)
    calm = grpc.aio.insecure_channel(s.target)
    try:
        for channel in (pest, calm):
            await pb_grpc.IdentityServiceStub(channel).GetJwks(pb.GetJwksRequest(), timeout=5)
        assert pest.get_state() == grpc.ChannelConnectivity.READY

        # Two strikes allowed, a strike per ping under 30 s apart: GOAWAY within seconds.
        async def dropped() -> None:
            while pest.get_state() == grpc.ChannelConnectivity.READY:
                await pest.wait_for_state_change(grpc.ChannelConnectivity.READY)

        await asyncio.wait_for(dropped(), 20)
        assert calm.get_state() == grpc.ChannelConnectivity.READY
        await pb_grpc.IdentityServiceStub(calm).GetJwks(pb.GetJwksRequest(), timeout=5)
    finally:
        await pest.close()
        await calm.close()


def test_the_keepalive_policy_is_explicit():
    """Not left to gRPC's defaults, which have changed between releases."""
    from identity.config import Settings
    from identity.domain.master_key import MasterKey
    from identity.rpc.server import server_options

    settings = Settings(
        database_url="sqlite+aiosqlite://",
        master_key=MasterKey.from_base64(MasterKey.generate_base64()),
    )
    options = dict(server_options(settings))
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 30_000
    assert options["grpc.http2.max_ping_strikes"] == 2
    assert options["grpc.keepalive_time_ms"] > 0 and options["grpc.keepalive_timeout_ms"] > 0
