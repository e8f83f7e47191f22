"""IN-05/IN-08/IN-09: empty, oversized, wrong-typed and hostile fields; nothing half-written."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select

from identity.persistence.tables import audit_events, sessions, users
from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD


async def _counts(s):
    async with s.app.engine.connect() as conn:
        return tuple(
            [await conn.scalar(select(func.count()).select_from(t)) for t in (users, sessions)]
        )


@pytest.mark.parametrize(
    ("email", "password", "fragment"),
    [
        ("", PASSWORD, "email: required"),
        ("   ", PASSWORD, "email: required"),
        ("a" * 250 + "@example.com", PASSWORD, "email: at most 254"),
        ("evil\r\n@example.com", PASSWORD, "email: contains control characters"),
        (
            'a\r\n{"level":"INFO","msg":"admin ok"}@x.com',
            PASSWORD,
            "email: contains control characters",
        ),
        ("no-at-sign.example.com", PASSWORD, "email: not an email address"),
        ("user@localhost", PASSWORD, "email: not an email address"),
        ("ok@example.com", "", "password: at least 15"),
        ("ok@example.com", "x" * 20000, "password: at most 1024"),
    ],
)
async def test_bad_register_fields_get_invalid_argument_with_a_clear_message(
    identity_server, email, password, fragment
):
    s = identity_server
    before = await _counts(s)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await s.stub.Register(pb.RegisterRequest(email=email, password=password), metadata=s.md())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in caught.value.details()
    assert password not in caught.value.details() or not password
    assert await _counts(s) == before


async def test_a_message_over_the_size_limit_is_refused_by_the_transport(identity_server):
    s = identity_server
    before = await _counts(s)
    # 100 KiB: over the 64 KiB limit but far below gRPC's 4 MiB default, so a limit raised to
    # the default (or to 1 MiB) fails here; 1 MiB + 1 as well, for good measure.
    for size in (100 * 1024, 1024 * 1024 + 1):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await s.stub.Login(
                pb.LoginRequest(email="a@example.com", password="x" * size), metadata=s.md()
            )
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, size
    assert await _counts(s) == before
    # The server is fine afterwards.
    await s.stub.GetJwks(pb.GetJwksRequest())
    health = health_pb2_grpc.HealthStub(s.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\xff\xff\xff\xff\x0f",  # length prefix beyond the message
        b"\x0a\x02\xc3\x28",  # invalid UTF-8 in a string field
        b"\xff\xff\xff",  # garbage tag
    ],
)
async def test_bytes_that_do_not_decode_are_invalid_argument(identity_server, raw):
    s = identity_server
    call = s.channel.unary_unary(
        "/identity.v1.IdentityService/Login", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(raw, metadata=s.md())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "request message does not decode"


async def test_a_wrong_wire_type_is_an_unknown_field_and_the_request_stays_invalid(identity_server):
    s = identity_server
    call = s.channel.unary_unary(
        "/identity.v1.IdentityService/Login", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(b"\x08\x01", metadata=s.md())  # field 1 (email) sent as a varint
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "email: required"


async def test_unknown_fields_are_ignored(identity_server, unique_email):
    s = identity_server
    # RegisterRequest plus field 99 ("role": "admin") that the schema does not have.
    message = pb.RegisterRequest(email=unique_email(), password=PASSWORD).SerializeToString()
    message += b"\x9a\x06\x05admin"
    call = s.channel.unary_unary(
        "/identity.v1.IdentityService/Register",
        request_serializer=None,
        response_deserializer=pb.RegisterResponse.FromString,
    )
    answer = await call(message, metadata=s.md())
    assert answer.user_id


async def test_hostile_refresh_and_session_values_are_refused_without_side_effects(identity_server):
    s = identity_server
    async with s.app.engine.connect() as conn:
        audits = await conn.scalar(select(func.count()).select_from(audit_events))
    for token in ("' OR 1=1 --", "idrt_" + "A" * 5000, "\u0000" * 10, "idrt_" + "é" * 43):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await s.stub.Refresh(pb.RefreshRequest(refresh_token=token), metadata=s.md())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await s.stub.RevokeMySession(
            pb.RevokeMySessionRequest(access_token="x", session_id="s" * 10000), metadata=s.md()
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    async with s.app.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(audit_events)) == audits
