"""An access token is active, and inactive right after each kind of revocation."""

from __future__ import annotations

import grpc

from identity.v1 import admin_pb2 as apb
from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD
from tests.helpers import login, refresh, register_and_login
from tests.introspection.support import (
    assert_only_inactive,
    claims_of,
    code_of,
    introspect,
    is_active,
    refresh_refused,
    revoke_jti,
)

NEW_PASSWORD = "a brand new passphrase for tests"


async def test_revoking_a_session_ends_its_tokens_only(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    first = await register_and_login(s, email)
    second = await login(s, email)
    assert await is_active(s, first.access_token)

    await s.admin_stub.RevokeSession(
        apb.RevokeSessionRequest(session_id=first.session_id, reason="test"), metadata=s.md("admin")
    )

    assert_only_inactive(await introspect(s, first.access_token))
    assert await is_active(s, second.access_token)


async def test_logout_ends_the_session_tokens(identity_server, unique_email):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    assert await is_active(s, tokens.access_token)
    await s.stub.Logout(pb.LogoutRequest(refresh_token=tokens.refresh_token), metadata=s.md())
    assert not await is_active(s, tokens.access_token)


async def test_revoking_a_user_ends_every_token_of_the_user(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    first = await register_and_login(s, email)
    second = await login(s, email)
    assert await is_active(s, first.access_token) and await is_active(s, second.access_token)

    answer = await s.admin_stub.RevokeUserSessions(
        apb.RevokeUserSessionsRequest(email=email), metadata=s.md("admin")
    )

    assert answer.revoked_sessions == 2
    assert not await is_active(s, first.access_token)
    assert not await is_active(s, second.access_token)


async def test_denying_a_jti_ends_that_token_and_not_its_siblings(identity_server, unique_email):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    sibling = await refresh(s, tokens.refresh_token)  # same session, another jti
    assert await is_active(s, tokens.access_token)

    await revoke_jti(s, claims_of(tokens.access_token)["jti"])

    assert_only_inactive(await introspect(s, tokens.access_token))
    assert await is_active(s, sibling.access_token)


async def test_password_change_ends_the_other_sessions_tokens(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    mine = await register_and_login(s, email)
    other = await login(s, email)
    assert await is_active(s, other.access_token)

    changed = await s.stub.ChangePassword(
        pb.ChangePasswordRequest(
            access_token=mine.access_token, current_password=PASSWORD, new_password=NEW_PASSWORD
        ),
        metadata=s.md(),
    )

    assert changed.revoked_sessions == 1
    assert_only_inactive(await introspect(s, other.access_token))
    assert await refresh_refused(s, other.refresh_token)


async def test_refresh_token_reuse_ends_the_family_tokens(identity_server, unique_email):
    s = identity_server
    first = await register_and_login(s, unique_email())
    second = await refresh(s, first.refresh_token)
    third = await refresh(s, second.refresh_token)  # the first one's successor is now used
    assert await is_active(s, third.access_token)

    replay = s.stub.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token), metadata=s.md())
    assert await code_of(replay) == grpc.StatusCode.UNAUTHENTICATED

    for tokens in (first, second, third):
        assert not await is_active(s, tokens.access_token)
    assert await refresh_refused(s, third.refresh_token)


async def test_locking_a_user_ends_their_tokens(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    tokens = await register_and_login(s, email)
    await s.admin_stub.LockUser(apb.LockUserRequest(email=email), metadata=s.md("admin"))
    assert_only_inactive(await introspect(s, tokens.access_token))
    assert await refresh_refused(s, tokens.refresh_token)
