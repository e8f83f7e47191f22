"""Issue 20, end to end on SQLite and PostgreSQL: Introspect answers the access token's `amr`,
`acr` and `auth_time`; a rotation keeps them; a Verifier and an Introspector demanding aal2 or a
recent authentication refuse the token that falls short and accept the one that does not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from identity.domain.clock import FixedClock
from identity.persistence.tables import sessions
from identity.v1 import identity_pb2 as pb
from identity.verify import (
    AuthenticationTooOld,
    GrpcJwksSource,
    InsufficientAuthentication,
    Introspector,
    InvalidToken,
    StepUpRequired,
    Verifier,
)
from tests.helpers import refresh, register_and_login
from tests.introspection.support import (
    assert_only_inactive,
    claims_of,
    introspect,
    until_inactive,
)

LOGIN_AT = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_introspect_answers_how_and_when_and_rotation_keeps_it(
    start_identity, backend, unique_email
):
    clock = FixedClock(LOGIN_AT)
    s = await start_identity(backend, clock=clock)
    login_time = int(LOGIN_AT.timestamp())
    tokens = await register_and_login(s, unique_email())

    answer = await introspect(s, tokens.access_token)
    assert list(answer.amr) == ["pwd"]
    assert answer.acr == "aal1"
    assert answer.auth_time == login_time
    claims = claims_of(tokens.access_token)
    assert (claims["amr"], claims["acr"], claims["auth_time"]) == (["pwd"], "aal1", login_time)

    clock.advance(120)
    rotated = await refresh(s, tokens.refresh_token)
    answer = await introspect(s, rotated.access_token)
    assert answer.iat == login_time + 120  # a new token ...
    assert (list(answer.amr), answer.acr, answer.auth_time) == (["pwd"], "aal1", login_time)

    # A session whose user proved a second factor (what StepUp and CompleteLogin record):
    async with s.app.engine.begin() as conn:
        await conn.execute(
            sa.update(sessions)
            .where(sessions.c.id == tokens.session_id)
            .values(amr="pwd otp", auth_time=clock.now())
        )
    stepped = await refresh(s, rotated.refresh_token)
    answer = await introspect(s, stepped.access_token)
    assert (list(answer.amr), answer.acr, answer.auth_time) == (
        ["pwd", "otp"],
        "aal2",
        login_time + 120,
    )
    clock.advance(60)
    again = await refresh(s, stepped.refresh_token)
    answer = await introspect(s, again.access_token)
    assert (list(answer.amr), answer.acr, answer.auth_time) == (
        ["pwd", "otp"],
        "aal2",
        login_time + 120,
    )

    # Once inactive, none of it is told (RFC 7662 §2.2).
    await s.stub.Logout(pb.LogoutRequest(refresh_token=again.refresh_token), metadata=s.md())
    await until_inactive(s, again.access_token)
    assert_only_inactive(await introspect(s, again.access_token))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_verifier_demanding_aal2_refuses_an_aal1_token_of_identity(
    start_identity, backend, unique_email
):
    clock = FixedClock(LOGIN_AT)
    s = await start_identity(backend, clock=clock)
    weak = await register_and_login(s, unique_email())
    strong_session = await register_and_login(s, unique_email())
    async with s.app.engine.begin() as conn:
        await conn.execute(
            sa.update(sessions)
            .where(sessions.c.id == strong_session.session_id)
            .values(amr="pwd otp", auth_time=clock.now())
        )
    strong = await refresh(s, strong_session.refresh_token)
    verifier = Verifier(
        issuer=s.app.settings.issuer,
        audience="api",
        jwks_source=GrpcJwksSource(s.target),
        clock=clock,
    )
    introspector = Introspector(s.target, credential=s.credentials["service"], clock=clock)
    try:
        for check in (verifier.averify, introspector.verify):
            with pytest.raises(InsufficientAuthentication):
                await check(weak.access_token, acr="aal2")
            assert (await check(weak.access_token, acr="aal1"))["acr"] == "aal1"
            answer = await check(strong.access_token, acr="aal2", max_auth_age=300)
            assert answer["amr"] == ["pwd", "otp"] and answer["acr"] == "aal2"

        clock.advance(301)  # the second factor was proved more than five minutes ago
        for check in (verifier.averify, introspector.verify):
            with pytest.raises(AuthenticationTooOld) as caught:
                await check(strong.access_token, acr="aal2", max_auth_age=300)
            assert (caught.value.acr, caught.value.max_age) == ("aal2", 300)
            await check(strong.access_token, acr="aal2")  # no age demanded: still good

        # Inactive is a plain refusal, never a step-up: stepping up would not help.
        with pytest.raises(InvalidToken) as refused:
            await introspector.verify(strong.refresh_token, acr="aal2")
        assert not isinstance(refused.value, StepUpRequired)
    finally:
        await introspector.close()
