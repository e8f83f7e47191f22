"""GA-03/GA-04/GA-05/RT-12: every method checks the caller's credential and role."""

from __future__ import annotations

import grpc
import pytest

from identity.v1 import admin_pb2 as apb
from identity.v1 import identity_pb2 as pb
from identity.wire import MD_SERVICE_CREDENTIAL_REFUSED
from tests.helpers import error_of, refresh, register_and_login, status_of

EDGE_METHODS = {
    "Register": pb.RegisterRequest(email="x@example.com", password="p"),
    "Login": pb.LoginRequest(email="x@example.com", password="p"),
    "Refresh": pb.RefreshRequest(refresh_token="idrt_" + "A" * 43),
    "Logout": pb.LogoutRequest(refresh_token="idrt_" + "A" * 43),
    "ListMySessions": pb.ListMySessionsRequest(access_token="x"),
    "RevokeMySession": pb.RevokeMySessionRequest(access_token="x", session_id="y"),
    "ChangePassword": pb.ChangePasswordRequest(access_token="x"),
}
SERVICE_METHODS = {"Introspect": pb.IntrospectRequest(token="x")}


@pytest.mark.parametrize("method", sorted(EDGE_METHODS | SERVICE_METHODS))
async def test_a_call_without_a_credential_is_unauthenticated(identity_server, method):
    s = identity_server
    request = (EDGE_METHODS | SERVICE_METHODS)[method]
    error = await error_of(getattr(s.stub, method)(request))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "missing or invalid service credential"


async def test_a_refused_service_credential_is_flagged_and_a_refused_user_token_is_not(
    identity_server,
):
    """The edge tells its own bad credential (500) from a user's bad token (401, cookie cleared)
    by this flag, never by the message text."""
    s = identity_server
    refused = await error_of(s.stub.Refresh(EDGE_METHODS["Refresh"]))
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert dict(refused.trailing_metadata() or ()).get(MD_SERVICE_CREDENTIAL_REFUSED) == "true"
    verdict = await error_of(s.stub.Refresh(EDGE_METHODS["Refresh"], metadata=s.md("edge")))
    assert verdict.code() == grpc.StatusCode.UNAUTHENTICATED
    assert MD_SERVICE_CREDENTIAL_REFUSED not in dict(verdict.trailing_metadata() or ())
    stream = s.stub.WatchRevocations(pb.WatchRevocationsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream.read()
    flags = dict(caught.value.trailing_metadata() or ())
    assert flags.get(MD_SERVICE_CREDENTIAL_REFUSED) == "true"


@pytest.mark.parametrize("method", sorted(EDGE_METHODS))
@pytest.mark.parametrize("role", ["service", "admin"])
async def test_edge_methods_refuse_other_roles(identity_server, method, role):
    s = identity_server
    error = await error_of(getattr(s.stub, method)(EDGE_METHODS[method], metadata=s.md(role)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_introspect_refuses_the_edge_role(identity_server):
    s = identity_server
    error = await error_of(
        s.stub.Introspect(pb.IntrospectRequest(token="x"), metadata=s.md("edge"))
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_get_jwks_is_public(identity_server):
    answer = await identity_server.stub.GetJwks(pb.GetJwksRequest())
    assert '"keys"' in answer.jwks_json and answer.etag and answer.max_age_seconds > 0


@pytest.mark.parametrize(
    "header",
    [
        "Bearer idsk_" + "A" * 43,  # unknown credential
        "Bearer",  # no secret
        "Bearer ",  # empty secret
        "Basic dXNlcjpwYXNz",  # wrong scheme
        "Bearer a b",  # two tokens
        "idsk_" + "A" * 43,  # no scheme
    ],
)
async def test_bad_or_unknown_credentials_get_one_answer(identity_server, header):
    s = identity_server
    error = await error_of(
        s.stub.Login(
            pb.LoginRequest(email="a@b.example", password="x"),
            metadata=(("authorization", header),),
        )
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "missing or invalid service credential"


async def test_a_wrong_secret_for_a_real_credential_looks_like_an_unknown_one(identity_server):
    s = identity_server
    real = s.credentials["edge"]
    tampered = real[:-1] + ("A" if real[-1] != "A" else "B")
    error = await error_of(
        s.stub.Login(
            pb.LoginRequest(email="a@b.example", password="x"),
            metadata=(("authorization", f"Bearer {tampered}"),),
        )
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "missing or invalid service credential"


async def test_the_bearer_scheme_is_case_insensitive(identity_server, unique_email):
    s = identity_server
    md = (("authorization", f"bearer {s.credentials['edge']}"),)
    await s.stub.Register(
        pb.RegisterRequest(email=unique_email(), password="correct horse battery staple"),
        metadata=md,
    )


async def test_a_user_access_token_is_never_a_service_credential(identity_server, unique_email):
    """GA-05 on every method that takes a credential: both services and the stream."""
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    bearer = (("authorization", f"Bearer {tokens.access_token}"),)
    for method, request in (EDGE_METHODS | SERVICE_METHODS).items():
        code = await status_of(getattr(s.stub, method)(request, metadata=bearer))
        assert code == grpc.StatusCode.UNAUTHENTICATED, method
    admin = apb.DESCRIPTOR.services_by_name["IdentityAdmin"]
    for m in admin.methods:
        request = getattr(apb, m.input_type.name)()
        code = await status_of(getattr(s.admin_stub, m.name)(request, metadata=bearer))
        assert code == grpc.StatusCode.UNAUTHENTICATED, m.name
    stream = s.stub.WatchRevocations(pb.WatchRevocationsRequest(), metadata=bearer)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream.read()
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_refresh_with_a_service_credential_is_denied_and_consumes_nothing(
    identity_server, unique_email
):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    for role in ("service", "admin"):
        error = await error_of(
            s.stub.Refresh(
                pb.RefreshRequest(refresh_token=tokens.refresh_token), metadata=s.md(role)
            )
        )
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    rotated = await refresh(s, tokens.refresh_token)
    assert not rotated.grace_replay  # the token was still unused


async def test_credential_secrets_are_stored_only_as_digests(identity_server):
    s = identity_server
    async with s.app.uow() as uow:
        records = await uow.credentials.active()
    stored = b"".join(r.secret_digest for r in records)
    for secret in s.credentials.values():
        assert secret.encode() not in stored
        assert all(len(r.secret_digest) == 32 for r in records)
