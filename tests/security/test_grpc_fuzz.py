"""Issue 7: a gRPC fuzz of every request message. Random bytes and random field values get a
client error, never INTERNAL/UNKNOWN, never a crash, and the server keeps serving."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.v1 import admin_pb2, identity_pb2

CLIENT_ERRORS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNIMPLEMENTED,
}
ROLE_OF_SERVICE = {"IdentityService": "edge", "IdentityAdmin": "admin"}
METHODS = [
    (service.name, method.name, method.input_type, method.server_streaming)
    for module in (identity_pb2, admin_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def _strings():
    return st.one_of(
        st.text(max_size=64),
        st.sampled_from(
            [
                "",
                " ",
                "\x00",
                "' OR 1=1 --",
                "../../etc/passwd",
                "idrt_" + "A" * 43,
                "é" * 300,
                '\r\n{"level":"INFO"}',
                "a" * 5000,
            ]
        ),
    )


def _value(field):
    from google.protobuf.descriptor import FieldDescriptor as F

    if field.type == F.TYPE_STRING:
        return _strings()
    if field.type == F.TYPE_BOOL:
        return st.booleans()
    if field.type in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return st.integers(-(2**63), 2**63 - 1)
    if field.type in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return st.integers(-(2**31), 2**31 - 1)
    return st.nothing()


def _messages(descriptor):
    from google.protobuf import message_factory

    cls = message_factory.GetMessageClass(descriptor)
    fields = {
        f.name: _value(f) for f in descriptor.fields if not f.is_repeated and f.message_type is None
    }
    return st.fixed_dictionaries({}, optional=fields).map(lambda kw: cls(**kw).SerializeToString())


async def _call(s, service, method, streaming, payload):
    path = f"/identity.v1.{service}/{method}"
    md = (
        s.md(ROLE_OF_SERVICE[service])
        if method not in ("Introspect", "WatchRevocations")
        else s.md("service")
    )
    try:
        if streaming:
            call = s.channel.unary_stream(path)(payload, metadata=md, timeout=2)
            async for _ in call:
                break
            call.cancel()
            return grpc.StatusCode.OK
        await s.channel.unary_unary(path)(payload, metadata=md, timeout=5)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@pytest.fixture(scope="module")
async def fuzz_target(start_shared_identity):
    return await start_shared_identity("sqlite")


def _examples(strategy) -> list[bytes]:
    """Hypothesis draws the payloads synchronously; the async test sends them afterwards."""
    payloads: list[bytes] = []

    @FUZZ
    @given(strategy)
    def collect(payload):
        payloads.append(payload)

    collect()
    return payloads


async def _assert_client_errors_only(target, service, method, streaming, payloads) -> None:
    allowed = CLIENT_ERRORS | {grpc.StatusCode.DEADLINE_EXCEEDED} if streaming else CLIENT_ERRORS
    for payload in payloads:
        code = await _call(target, service, method, streaming, payload)
        assert code in allowed, (code, payload[:80])
    await target.stub.GetJwks(identity_pb2.GetJwksRequest())  # still serving


BY_METHOD = pytest.mark.parametrize(
    ("service", "method", "descriptor", "streaming"),
    METHODS,
    ids=[f"{m[0]}.{m[1]}" for m in METHODS],
)


@BY_METHOD
async def test_random_field_values_never_cause_a_server_error(
    fuzz_target, service, method, descriptor, streaming
):
    payloads = _examples(_messages(descriptor))
    await _assert_client_errors_only(fuzz_target, service, method, streaming, payloads)


@BY_METHOD
async def test_random_bytes_never_cause_a_server_error(
    fuzz_target, service, method, descriptor, streaming
):
    payloads = _examples(st.binary(max_size=512))
    await _assert_client_errors_only(fuzz_target, service, method, streaming, payloads)
