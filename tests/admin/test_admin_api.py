"""IdentityAdmin: what each method does, users named by id or email, and its errors."""

from __future__ import annotations

import json

import grpc
import pytest

from identity.v1 import admin_pb2 as apb
from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD
from tests.helpers import error_of, login, refresh, register_and_login
from tests.introspection.support import audit_events, code_of, is_active

USER_METHODS = {
    "ListUserSessions": apb.ListUserSessionsRequest,
    "RevokeUserSessions": apb.RevokeUserSessionsRequest,
    "LockUser": apb.LockUserRequest,
    "UnlockUser": apb.UnlockUserRequest,
}


async def test_sessions_are_found_by_email_in_any_case_or_by_id(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    tokens = await register_and_login(s, email)
    for request in (
        apb.ListUserSessionsRequest(email=email.upper()),
        apb.ListUserSessionsRequest(user_id=tokens.user_id),
    ):
        answer = await s.admin_stub.ListUserSessions(request, metadata=s.md("admin"))
        assert [x.session_id for x in answer.sessions] == [tokens.session_id]
        assert answer.sessions[0].user_id == tokens.user_id


@pytest.mark.parametrize("method", sorted(USER_METHODS))
async def test_a_user_is_named_exactly_once_and_must_exist(identity_server, unique_email, method):
    s = identity_server
    email = unique_email()
    tokens = await register_and_login(s, email)
    rpc = getattr(s.admin_stub, method)
    make = USER_METHODS[method]
    md = s.md("admin")
    both = make(user_id=tokens.user_id, email=email)
    assert await code_of(rpc(both, metadata=md)) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of(rpc(make(), metadata=md)) == grpc.StatusCode.INVALID_ARGUMENT
    for unknown in (make(email=unique_email()), make(user_id="no-such-user")):
        assert await code_of(rpc(unknown, metadata=md)) == grpc.StatusCode.NOT_FOUND


async def test_revoke_session_ends_it_once_and_says_why(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    tokens = await register_and_login(s, email)
    md = s.md("admin")
    request = apb.RevokeSessionRequest(session_id=tokens.session_id, reason="ticket 42")

    assert (await s.admin_stub.RevokeSession(request, metadata=md)).revoked is True
    assert (await s.admin_stub.RevokeSession(request, metadata=md)).revoked is False

    listed = await s.admin_stub.ListUserSessions(
        apb.ListUserSessionsRequest(email=email, include_ended=True), metadata=md
    )
    assert listed.sessions[0].status_text == "ended: revoked by an administrator"
    live = await s.admin_stub.ListUserSessions(
        apb.ListUserSessionsRequest(email=email), metadata=md
    )
    assert list(live.sessions) == []
    refused = s.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token), metadata=s.md())
    assert await code_of(refused) == grpc.StatusCode.UNAUTHENTICATED
    unknown = apb.RevokeSessionRequest(session_id="no-such-session")
    assert await code_of(s.admin_stub.RevokeSession(unknown, metadata=md)) == (
        grpc.StatusCode.NOT_FOUND
    )
    event = (await audit_events(s, kind="admin.RevokeSession", user_id=tokens.user_id))[-1]
    assert (event.actor, event.session_id, event.outcome) == (
        "test-admin",
        tokens.session_id,
        "ok",
    )
    assert json.loads(event.detail_json)["reason"] == "ticket 42"


async def test_revoke_user_sessions_counts_the_live_ones(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    await register_and_login(s, email)
    await login(s, email)
    request = apb.RevokeUserSessionsRequest(email=email)
    answer = await s.admin_stub.RevokeUserSessions(request, metadata=s.md("admin"))
    assert answer.revoked_sessions == 2
    again = await s.admin_stub.RevokeUserSessions(request, metadata=s.md("admin"))
    assert again.revoked_sessions == 0


async def test_a_locked_user_fails_login_exactly_like_a_wrong_password(
    identity_server, unique_email
):
    s = identity_server
    email = unique_email()
    tokens = await register_and_login(s, email)
    md = s.md("admin")
    wrong = await error_of(
        s.stub.Login(pb.LoginRequest(email=email, password=PASSWORD + "!"), metadata=s.md())
    )

    locked = await s.admin_stub.LockUser(
        apb.LockUserRequest(email=email, reason="abuse"), metadata=md
    )

    assert locked.revoked_sessions == 1
    assert not await is_active(s, tokens.access_token)
    refused = await error_of(
        s.stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=s.md())
    )
    assert (refused.code(), refused.details()) == (wrong.code(), wrong.details())

    await s.admin_stub.UnlockUser(apb.UnlockUserRequest(user_id=tokens.user_id), metadata=md)
    again = await login(s, email)
    assert await is_active(s, again.access_token)


async def test_rotate_publishes_a_next_key_that_list_shows(identity_server):
    s = identity_server
    md = s.md("admin")
    rotated = await s.admin_stub.RotateSigningKey(
        apb.RotateSigningKeyRequest(alg="EdDSA", reason="drill"), metadata=md
    )
    assert (rotated.key.state, rotated.key.alg) == ("next", "EdDSA")
    assert rotated.key.activates_at.ToDatetime() > rotated.key.created_at.ToDatetime()
    keys = (await s.admin_stub.ListSigningKeys(apb.ListSigningKeysRequest(), metadata=md)).keys
    assert rotated.key.kid in {k.kid for k in keys}
    assert any(k.state == "current" for k in keys)
    jwks = json.loads((await s.stub.GetJwks(pb.GetJwksRequest())).jwks_json)
    assert rotated.key.kid in {k["kid"] for k in jwks["keys"]}  # published before it signs
    bad = apb.RotateSigningKeyRequest(alg="HS256")
    assert await code_of(s.admin_stub.RotateSigningKey(bad, metadata=md)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_audit_log_filters_by_user_and_kind_and_pages(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    first = await register_and_login(s, email)
    second = await refresh(s, first.refresh_token)
    await refresh(s, second.refresh_token)
    await error_of(
        s.stub.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token), metadata=s.md())
    )

    mine = await audit_events(s, email=email.title())
    assert mine and all(e.user_id == first.user_id for e in mine)
    assert [e.id for e in mine] == sorted((e.id for e in mine), reverse=True)  # newest first
    reuse = await audit_events(s, email=email, kind="refresh_token_reuse")
    assert len(reuse) == 1 and reuse[0].session_id == first.session_id
    incident = json.loads(reuse[0].detail_json)
    assert {"cause", "first_use", "replay"} <= set(incident)

    md = s.md("admin")
    newest = mine[0].id + 1  # anchor: these listings add events of their own about the user
    page = await s.admin_stub.ListAuditEvents(
        apb.ListAuditEventsRequest(email=email, limit=2, before_id=newest), metadata=md
    )
    assert len(page.events) == 2
    rest = await s.admin_stub.ListAuditEvents(
        apb.ListAuditEventsRequest(email=email, limit=1000, before_id=page.events[-1].id),
        metadata=md,
    )
    assert [e.id for e in [*page.events, *rest.events]] == [e.id for e in mine]
    for limit in (-1, 1001):
        too_many = apb.ListAuditEventsRequest(limit=limit)
        assert await code_of(s.admin_stub.ListAuditEvents(too_many, metadata=md)) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
async def test_a_login_is_audited_with_its_session_and_client(
    start_identity, unique_email, backend
):
    s = await start_identity(backend)
    email = unique_email()
    tokens = await register_and_login(s, email, ip="198.51.100.23")
    (event,) = await audit_events(s, email=email, kind="login_succeeded")
    assert (event.actor, event.outcome) == ("user", "ok")
    assert (event.user_id, event.session_id) == (tokens.user_id, tokens.session_id)
    assert json.loads(event.detail_json)["ip"] == "198.51.100.23"
    assert await is_active(s, tokens.access_token)
