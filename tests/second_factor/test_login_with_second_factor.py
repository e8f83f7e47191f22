"""Enrol, sign in with a TOTP or recovery code, replay, drift, throttling and ticket rules, over
real gRPC on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio

import grpc

from identity.v1 import identity_pb2 as pb
from tests.helpers import error_of, login, refresh, register_and_login, status_of
from tests.introspection.support import claims_of
from tests.second_factor.support import (
    begin,
    complete,
    completed,
    confirm,
    enrol,
    row_counts,
    state,
    ticket,
)

REFUSED = (grpc.StatusCode.UNAUTHENTICATED, "invalid or expired ticket or code")


async def refusal(call) -> tuple[grpc.StatusCode, str]:
    error = await error_of(call)
    return error.code(), error.details()


async def test_enrol_then_sign_in_with_a_totp_code(mfa, unique_email):
    m, email = mfa, unique_email()
    tokens = await register_and_login(m.s, email)
    assert claims_of(tokens.access_token)["acr"] == "aal1"
    started = await begin(m, tokens.access_token)
    assert started.otpauth_uri.startswith("otpauth://totp/") and started.qr_svg.startswith("<svg")
    # Pending until confirmed: the password alone still signs in.
    assert (await login(m.s, email)).access_token
    enrolled = await enrol_confirmed(m, tokens.access_token, started.secret)
    assert len(enrolled.recovery_codes) == 10
    assert claims_of(enrolled.access_token)["acr"] == "aal2"
    await m.catcher.wait(email, "two-step sign-in was turned on")

    answer = await login(m.s, email)
    assert answer.second_factor_required and answer.mfa_ticket.startswith("idmt_")
    assert answer.mfa_ticket_expires_in == 300
    assert not answer.access_token and not answer.refresh_token and not answer.session_id
    secret = _secret(started.secret)
    signed_in = await completed(m, answer.mfa_ticket, m.code(secret))
    claims = claims_of(signed_in.access_token)
    assert (claims["amr"], claims["acr"]) == (["pwd", "otp"], "aal2")
    assert claims["auth_time"] == int(m.clock.now().timestamp())
    # Rotation keeps them.
    m.clock.advance(5)
    rotated = claims_of((await refresh(m.s, signed_in.refresh_token)).access_token)
    assert (rotated["amr"], rotated["acr"], rotated["auth_time"]) == (
        ["pwd", "otp"],
        "aal2",
        claims["auth_time"],
    )
    seen = await state(m, signed_in.access_token)
    assert seen.totp_enabled and seen.recovery_codes_left == 10 and seen.acr == "aal2"


async def enrol_confirmed(m, access_token, secret_text):
    confirmed = await confirm(m, access_token, m.code(_secret(secret_text)))
    m.next_step()
    return confirmed


def _secret(text: str) -> bytes:
    from tests.second_factor.support import b32decode

    return b32decode(text)


async def test_a_recovery_code_signs_in_once(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    code = user.recovery_codes[3]
    signed_in = await completed(m, await ticket(m, user.email), code.upper().replace("-", " "))
    assert claims_of(signed_in.access_token)["acr"] == "aal2"
    assert (await state(m, signed_in.access_token)).recovery_codes_left == 9
    assert await refusal(complete(m, await ticket(m, user.email), code)) == REFUSED


async def test_a_totp_code_works_once_within_its_step(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    code = m.code(user.secret)
    await completed(m, await ticket(m, user.email), code)
    assert await refusal(complete(m, await ticket(m, user.email), code)) == REFUSED
    m.next_step()
    assert (await completed(m, await ticket(m, user.email), m.code(user.secret))).access_token


async def test_of_two_concurrent_logins_with_one_code_exactly_one_wins(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    code = m.code(user.secret)
    tickets = [await ticket(m, user.email) for _ in range(2)]
    outcomes = await asyncio.gather(*(status_of(complete(m, t, code)) for t in tickets))
    assert sorted(outcomes, key=str) == sorted(
        [grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED], key=str
    )


async def test_of_two_concurrent_step_ups_with_one_code_exactly_one_wins(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    code = m.code(user.secret)
    calls = [
        m.s.stub.StepUp(
            pb.StepUpRequest(access_token=user.access_token, code=code), metadata=m.s.md()
        )
        for _ in range(2)
    ]
    outcomes = await asyncio.gather(*(status_of(c) for c in calls))
    assert sorted(outcomes, key=str) == sorted(
        [grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED], key=str
    )


async def test_one_step_of_drift_is_accepted_two_are_not(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    m.next_step()  # the step before is not the enrolment's, spent already
    for steps in (2, -2):
        assert (
            await refusal(complete(m, await ticket(m, user.email), m.code(user.secret, steps)))
            == REFUSED
        )
    assert (await completed(m, await ticket(m, user.email), m.code(user.secret, -1))).access_token
    m.next_step()
    assert (await completed(m, await ticket(m, user.email), m.code(user.secret, 1))).access_token


async def test_a_ticket_dies_after_five_wrong_codes_and_the_account_is_throttled(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    wrong = f"{(int(m.code(user.secret)) + 1) % 1_000_000:06d}"
    assert wrong not in {m.code(user.secret, d) for d in (-1, 0, 1)}
    doomed = await ticket(m, user.email)
    for _ in range(5):
        assert await refusal(complete(m, doomed, wrong)) == REFUSED
    # Dead: even the right code is refused now.
    assert await refusal(complete(m, doomed, m.code(user.secret))) == REFUSED
    # Five failures were free; the sixth blocks the account for a growing delay.
    fresh = await ticket(m, user.email)
    assert await refusal(complete(m, fresh, wrong)) == REFUSED
    error = await error_of(complete(m, fresh, m.code(user.secret)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert int(dict(error.trailing_metadata())["retry-after"]) >= 1
    m.clock.advance(31)  # past the block, and a new step
    assert (await completed(m, fresh, m.code(user.secret))).access_token


async def test_an_expired_or_used_ticket_is_refused(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    old = await ticket(m, user.email)
    m.clock.advance(301)
    assert await refusal(complete(m, old, m.code(user.secret))) == REFUSED
    used = await ticket(m, user.email)
    await completed(m, used, m.code(user.secret))
    m.next_step()
    assert await refusal(complete(m, used, m.code(user.secret))) == REFUSED


async def test_bad_input_is_refused_and_writes_nothing(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    live = await ticket(m, user.email)
    before = await row_counts(m.s)
    for bad_code in ["", "1" * 1000, "12345", "' OR 1=1 --", "١٢٣٤٥٦"]:
        error = await error_of(complete(m, live, bad_code))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, bad_code[:20]
        assert bad_code[:8] not in error.details() or not bad_code
    for bad_ticket in ["", "idmt_" + "A" * 43, "idmt_" + "A" * 10_000, "' OR 1=1 --", "\x00"]:
        assert await refusal(complete(m, bad_ticket, m.code(user.secret))) == REFUSED
    assert await row_counts(m.s) == before
    assert (await completed(m, live, m.code(user.secret))).access_token


async def test_enrolment_needs_the_password_and_no_active_factor(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    error = await error_of(begin(m, user.access_token))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    other = await register_and_login(m.s, unique_email())
    assert await status_of(begin(m, other.access_token, "not the password at all")) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    # A code that is not the pending secret's does not activate it.
    started = await begin(m, other.access_token)
    wrong = f"{(int(m.code(_secret(started.secret))) + 7) % 1_000_000:06d}"
    assert await refusal(confirm(m, other.access_token, wrong)) == REFUSED
    assert not (await state(m, other.access_token)).totp_enabled
