"""Issue 3 / JWT-17 / AV-07: signing keys rotate without any verifier meeting an unknown kid."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import grpc
import jwt
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from identity.app import IdentityApp
from identity.domain.clock import FixedClock
from identity.domain.errors import Unavailable
from identity.domain.keys import KeyState
from identity.persistence.keys import KEY_ROTATION_LOCK
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc as pb_grpc
from identity.verify import ExpiredToken, GrpcJwksSource, UnknownKey, Verifier
from tests.conftest import settings_for
from tests.helpers import login, register_and_login


class CountingSource:
    """Delegates to the real gRPC source and counts fetches (the verifier's view of identity)."""

    def __init__(self, target: str) -> None:
        self.inner = GrpcJwksSource(target)
        self.fetches = 0

    def fetch(self, etag):
        self.fetches += 1
        return self.inner.fetch(etag)

    async def afetch(self, etag):
        self.fetches += 1
        return await self.inner.afetch(etag)


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


async def published_kids(s) -> set[str]:
    jwks = json.loads((await s.stub.GetJwks(pb.GetJwksRequest())).jwks_json)
    return {k["kid"] for k in jwks["keys"]}


async def test_a_rotation_publishes_first_signs_later_and_keeps_old_tokens_valid(
    start_identity, unique_email
):
    clock = FixedClock()
    s = await start_identity("sqlite", clock=clock, jwks_max_age=timedelta(seconds=60))
    email = unique_email()
    old = await register_and_login(s, email)
    source = CountingSource(s.target)
    verifier = Verifier(
        issuer=s.app.settings.issuer, audience="api", jwks_source=source, clock=clock
    )
    await verifier.averify(old.access_token)

    new_key = await s.app.keyring.rotate()
    assert new_key.kid in await published_kids(s)
    # Published, not signing yet: a token minted now still uses the old key.
    assert kid_of((await login(s, email)).access_token) == kid_of(old.access_token)
    clock.advance(30)
    verifier = Verifier(
        issuer=s.app.settings.issuer, audience="api", jwks_source=source, clock=clock
    )
    await verifier.averify(old.access_token)  # caches a JWKS holding both keys, for 60 s
    fetches = source.fetches

    clock.advance(31)  # the new key signs from here on; the verifier's cache is still fresh
    await s.app.keyring.maintain()
    fresh = await login(s, email)
    assert kid_of(fresh.access_token) == new_key.kid
    await verifier.averify(fresh.access_token)
    assert source.fetches == fetches, (
        "the verifier had to refetch: the key signed before it was cached"
    )
    # The old key stays published while tokens it signed can live.
    await verifier.averify(old.access_token)
    assert kid_of(old.access_token) in await published_kids(s)

    # It signed last at the activation just above: published until token lifetime + leeway
    # (600 + 30 s) have passed since, not a second less.
    clock.advance(600 + 30 - 1)
    await s.app.keyring.maintain()
    assert kid_of(old.access_token) in await published_kids(s)

    clock.advance(2)
    await s.app.keyring.maintain()
    assert kid_of(old.access_token) not in await published_kids(s)
    states = {r.kid: r.state for r in s.app.keyring.records}
    assert (
        states[kid_of(old.access_token)] is KeyState.RETIRED
        and states[new_key.kid] is KeyState.CURRENT
    )
    with pytest.raises((UnknownKey, ExpiredToken)):  # its key is gone, and it has expired
        await verifier.averify(old.access_token)


async def test_two_rotations_in_a_row_never_sign_with_an_unpublished_key(
    start_identity, unique_email
):
    clock = FixedClock()
    s = await start_identity("sqlite", clock=clock, jwks_max_age=timedelta(seconds=10))
    email = unique_email()
    await register_and_login(s, email)
    for _ in range(2):
        await s.app.keyring.rotate()
    for _ in range(6):
        clock.advance(5)
        await s.app.keyring.maintain()
        token = (await login(s, email)).access_token
        assert kid_of(token) in await published_kids(s)


async def test_switching_the_algorithm_is_a_rotation(start_identity, unique_email):
    clock = FixedClock()
    s = await start_identity("sqlite", clock=clock, jwks_max_age=timedelta(seconds=10))
    email = unique_email()
    before = await register_and_login(s, email)
    await s.app.keyring.rotate("EdDSA")
    clock.advance(11)
    await s.app.keyring.maintain()
    after = await login(s, email)
    assert jwt.get_unverified_header(after.access_token)["alg"] == "EdDSA"
    verifier = Verifier(
        issuer=s.app.settings.issuer,
        audience="api",
        jwks_source=GrpcJwksSource(s.target),
        clock=clock,
    )
    await verifier.averify(before.access_token)
    await verifier.averify(after.access_token)


async def test_a_token_whose_key_left_the_jwks_is_refused(start_identity, unique_email):
    clock = FixedClock()
    s = await start_identity("sqlite", clock=clock, jwks_max_age=timedelta(seconds=10))
    old = await register_and_login(s, unique_email())
    await s.app.keyring.rotate()
    clock.advance(11)
    await s.app.keyring.maintain()
    clock.advance(631)
    await s.app.keyring.maintain()
    verifier = Verifier(
        issuer=s.app.settings.issuer,
        audience="api",
        jwks_source=GrpcJwksSource(s.target),
        clock=clock,
        leeway=60,
    )
    with pytest.raises((UnknownKey, ExpiredToken)):
        await verifier.averify(old.access_token)


async def test_replicas_rotating_at_once_make_exactly_one_key_and_all_pick_it_up(start_identity):
    """ "At once" made deterministic: a rotation holds the database lock (here an outside
    transaction holds it) and every replica that tries meanwhile is refused, not queued; once
    it is released one rotation makes one key, and every replica loads the same set."""
    a = await start_identity("postgres")
    b = IdentityApp(settings_for(a.app.settings.database_url))
    await b.start()
    engine = create_async_engine(a.app.settings.database_url)
    try:
        before = {r.kid for r in a.app.keyring.records}
        async with engine.begin() as elsewhere:  # a rotation in progress on another replica
            await elsewhere.execute(sa.select(sa.func.pg_advisory_xact_lock(KEY_ROTATION_LOCK)))
            results = await asyncio.gather(
                a.app.keyring.rotate(), b.keyring.rotate(), return_exceptions=True
            )
        assert all(isinstance(r, Unavailable) for r in results), results
        made = await b.keyring.rotate()
        await a.app.keyring.reload()
        await b.keyring.reload()
        after_a = {r.kid for r in a.app.keyring.records}
        after_b = {r.kid for r in b.keyring.records}
        assert after_a == after_b and after_a - before == {made.kid}
    finally:
        await engine.dispose()
        await b.stop(grace=0.1)


async def test_scheduled_rotation_on_two_replicas_makes_one_key_that_both_serve_unprompted(
    start_identity, unique_email
):
    """Checklist AV-07 with nothing called by hand: the rotation interval passes (a shared
    fixed clock), each replica's own maintenance loop (every 5 s) notices, exactly one of them
    publishes the next key, both serve it in their JWKS, and after the JWKS lifetime both sign
    with it; no token either replica mints meanwhile names a kid missing from either JWKS."""
    clock = FixedClock()
    a = await start_identity("postgres", clock=clock, jwks_max_age=timedelta(seconds=10))
    b = IdentityApp(
        settings_for(a.app.settings.database_url, jwks_max_age=timedelta(seconds=10)), clock=clock
    )
    await b.start()
    b_channel = grpc.aio.insecure_channel(f"127.0.0.1:{b.port}")
    b_stub = pb_grpc.IdentityServiceStub(b_channel)
    try:
        email = unique_email()
        await register_and_login(a, email)
        first = a.app.keyring.signing_key.kid
        assert b.keyring.signing_key.kid == first

        async def both_jwks() -> tuple[set[str], set[str]]:
            jwks_b = json.loads((await b_stub.GetJwks(pb.GetJwksRequest())).jwks_json)
            return await published_kids(a), {k["kid"] for k in jwks_b["keys"]}

        async def mint_and_check() -> str:
            kid_a = kid_of((await login(a, email)).access_token)
            in_a, in_b = await both_jwks()
            assert kid_a in in_a and kid_a in in_b, (kid_a, in_a, in_b)
            return kid_a

        clock.advance(31 * 86400)  # past IDENTITY_KEY_ROTATION_DAYS (30)
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            in_a, in_b = await both_jwks()
            if len(in_a) == 2 and in_a == in_b:
                break
            assert asyncio.get_running_loop().time() < deadline, (in_a, in_b)
            await mint_and_check()
            await asyncio.sleep(0.25)
        (next_kid,) = in_a - {first}
        states = [r.state for r in a.app.keyring.records]
        assert states.count(KeyState.NEXT) == 1 and len(states) == 2, states
        assert await mint_and_check() == first  # published, not signing yet

        clock.advance(11)  # the JWKS lifetime: the next key may sign
        deadline = asyncio.get_running_loop().time() + 15
        while not (
            a.app.keyring.signing_key.kid == next_kid and b.keyring.signing_key.kid == next_kid
        ):
            assert asyncio.get_running_loop().time() < deadline, "a replica never switched"
            await mint_and_check()
            await asyncio.sleep(0.25)
        assert await mint_and_check() == next_kid
    finally:
        await b_channel.close()
        await b.stop(grace=0.1)
