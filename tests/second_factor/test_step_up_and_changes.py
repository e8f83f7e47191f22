"""Step-up, and the changes of an active factor that need one: regenerate recovery codes,
disable; and the operators' reset. Real gRPC, SMTP, PostgreSQL and SQLite."""

from __future__ import annotations

import grpc

from identity.v1 import admin_pb2 as apb
from identity.v1 import identity_pb2 as pb
from tests.conftest import remember
from tests.helpers import error_of, login, refresh, status_of
from tests.introspection.support import audit_events, claims_of
from tests.second_factor.support import completed, enrol, keep, state, step_up, ticket

STEP_UP_REQUIRED = (grpc.StatusCode.PERMISSION_DENIED, "step-up required")


def regenerate(m, access_token):
    return m.s.stub.RegenerateRecoveryCodes(
        pb.RegenerateRecoveryCodesRequest(access_token=access_token), metadata=m.s.md()
    )


def disable(m, access_token):
    return m.s.stub.DisableTotp(pb.DisableTotpRequest(access_token=access_token), metadata=m.s.md())


async def refusal(call):
    error = await error_of(call)
    return error.code(), error.details()


async def stepped_up(m, access_token, code):
    answer = await step_up(m, access_token, code)
    remember(answer.access_token)
    return answer


async def test_step_up_gives_a_fresh_auth_time_that_later_rotations_carry(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    session = await completed(m, await ticket(m, user.email), m.code(user.secret))
    signed_in_at = claims_of(session.access_token)["auth_time"]
    m.clock.advance(400)
    answer = await stepped_up(m, session.access_token, m.code(user.secret))
    claims = claims_of(answer.access_token)
    assert answer.token_type == "Bearer" and claims["sid"] == claims_of(session.access_token)["sid"]
    assert claims["auth_time"] == int(m.clock.now().timestamp()) > signed_in_at
    assert claims["acr"] == "aal2"
    m.clock.advance(5)
    rotated = claims_of((await refresh(m.s, session.refresh_token)).access_token)
    assert rotated["auth_time"] == claims["auth_time"]
    seen = await state(m, answer.access_token)
    assert seen.auth_time.seconds == claims["auth_time"]


async def test_disabling_needs_a_recent_step_up_and_ends_the_other_sessions(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    other = await completed(m, await ticket(m, user.email), m.code(user.secret))
    m.next_step()
    mine = await completed(m, await ticket(m, user.email), m.code(user.secret))
    m.clock.advance(301)  # the sign-in is no longer recent
    assert await refusal(disable(m, mine.access_token)) == STEP_UP_REQUIRED
    assert await refusal(regenerate(m, mine.access_token)) == STEP_UP_REQUIRED
    fresh = await stepped_up(m, mine.access_token, m.code(user.secret))
    answer = await disable(m, fresh.access_token)
    assert answer.revoked_sessions == 2  # the enrolling session and `other`
    assert await status_of(refresh(m.s, other.refresh_token)) == grpc.StatusCode.UNAUTHENTICATED
    # The caller's session lives on, no longer at AAL2: without a factor it says "pwd" only.
    after = claims_of((await refresh(m.s, mine.refresh_token)).access_token)
    assert (after["acr"], after["amr"]) == ("aal1", ["pwd"])
    await m.catcher.wait(user.email, "two-step sign-in was turned off")
    # The password alone signs in again; the recovery codes are gone.
    assert (await login(m.s, user.email)).access_token
    kinds = [e.kind for e in await audit_events(m.s, user_id=claims_of(mine.access_token)["sub"])]
    assert {"totp_disabled", "step_up", "totp_enabled"} <= set(kinds)


async def test_a_recent_password_only_session_cannot_change_the_factor(mfa, unique_email):
    """A session signed in before the factor existed is aal1: however recent, no change."""
    m = mfa
    from tests.helpers import register_and_login
    from tests.second_factor.support import b32decode, begin, confirm

    email = unique_email()
    enrolling = await register_and_login(m.s, email)
    password_only = await login(m.s, email)
    secret = b32decode((await begin(m, enrolling.access_token)).secret)
    await confirm(m, enrolling.access_token, m.code(secret))
    assert claims_of(password_only.access_token)["acr"] == "aal1"
    assert await refusal(disable(m, password_only.access_token)) == STEP_UP_REQUIRED
    assert await refusal(regenerate(m, password_only.access_token)) == STEP_UP_REQUIRED
    assert (await state(m, password_only.access_token)).acr == "aal1"


async def test_regenerating_recovery_codes_kills_the_old_ones(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    other = await completed(m, await ticket(m, user.email), m.code(user.secret))
    m.next_step()
    fresh = await stepped_up(m, user.access_token, m.code(user.secret))
    answer = await regenerate(m, fresh.access_token)
    keep(*answer.recovery_codes)
    assert len(answer.recovery_codes) == 10 and answer.revoked_sessions == 1
    assert not set(answer.recovery_codes) & set(user.recovery_codes)
    assert await status_of(refresh(m.s, other.refresh_token)) == grpc.StatusCode.UNAUTHENTICATED
    await m.catcher.wait(user.email, "new recovery codes")
    refused = await error_of(
        m.s.stub.CompleteLogin(
            pb.CompleteLoginRequest(
                mfa_ticket=await ticket(m, user.email), code=user.recovery_codes[0]
            ),
            metadata=m.s.md(),
        )
    )
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await completed(m, await ticket(m, user.email), answer.recovery_codes[0])).access_token


async def test_an_operator_resets_a_lost_factor(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    session = await completed(m, await ticket(m, user.email), m.code(user.secret))
    pending = await ticket(m, user.email)
    admin = m.s.md("admin")
    got = await m.s.admin_stub.GetUser(apb.GetUserRequest(email=user.email), metadata=admin)
    assert got.second_factor_enabled
    answer = await m.s.admin_stub.ResetSecondFactor(
        apb.ResetSecondFactorRequest(email=user.email.upper(), reason="lost phone"), metadata=admin
    )
    assert answer.had_second_factor and answer.revoked_sessions == 2
    for ended in (session.refresh_token, user.refresh_token):
        assert await status_of(refresh(m.s, ended)) == grpc.StatusCode.UNAUTHENTICATED
    m.next_step()
    assert (
        await status_of(
            m.s.stub.CompleteLogin(
                pb.CompleteLoginRequest(mfa_ticket=pending, code=m.code(user.secret)),
                metadata=m.s.md(),
            )
        )
        == grpc.StatusCode.UNAUTHENTICATED
    )
    await m.catcher.wait(user.email, "reset by an administrator")
    got = await m.s.admin_stub.GetUser(apb.GetUserRequest(email=user.email), metadata=admin)
    assert not got.second_factor_enabled
    assert (await login(m.s, user.email)).access_token
    again = await m.s.admin_stub.ResetSecondFactor(
        apb.ResetSecondFactorRequest(user_id=got.user_id), metadata=admin
    )
    assert (again.had_second_factor, again.revoked_sessions) == (False, 0)
    events = await audit_events(m.s, kind="admin.ResetSecondFactor", user_id=got.user_id)
    assert [e.actor for e in events] == ["test-admin", "test-admin"]
    assert '"reason": "lost phone"' in events[-1].detail_json
