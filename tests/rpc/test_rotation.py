"""Refresh-token rotation through the real gRPC server, on SQLite and PostgreSQL (DESIGN §2)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import jwt
import pytest
from sqlalchemy import select, update

from identity.domain.clock import FixedClock
from identity.domain.refresh import refresh_token_digest
from identity.persistence.tables import refresh_tokens
from identity.v1 import identity_pb2 as pb
from tests.helpers import error_of, login, refresh, register_and_login, status_of

UNAUTH = grpc.StatusCode.UNAUTHENTICATED


def sid_of(access_token: str) -> str:
    return jwt.decode(access_token, options={"verify_signature": False})["sid"]


async def test_a_chain_of_ten_rotations_keeps_the_session_and_changes_every_token(
    identity_server, unique_email
):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    seen = {tokens.refresh_token}
    current = tokens
    for _ in range(10):
        current = await refresh(s, current.refresh_token)
        assert current.refresh_token not in seen
        assert not current.grace_replay
        assert sid_of(current.access_token) == tokens.session_id == current.session_id
        seen.add(current.refresh_token)
    assert len(seen) == 11
    assert current.refresh_expires_in > 0 and current.expires_in == 600


async def test_replay_within_grace_returns_the_same_successor_and_a_new_access_token(
    identity_server, unique_email
):
    s = identity_server
    first = await register_and_login(s, unique_email())
    rotated = await refresh(s, first.refresh_token)
    replayed = await refresh(s, first.refresh_token)
    assert replayed.grace_replay
    assert replayed.refresh_token == rotated.refresh_token
    assert replayed.access_token != rotated.access_token
    # Still exactly one live token: the successor rotates normally afterwards.
    nxt = await refresh(s, rotated.refresh_token)
    assert not nxt.grace_replay


async def test_lost_response_retry_recovers_the_session(identity_server, unique_email):
    s = identity_server
    first = await register_and_login(s, unique_email())
    await refresh(s, first.refresh_token)  # the answer never reaches the client
    retried = await refresh(s, first.refresh_token)
    assert retried.grace_replay
    after = await refresh(s, retried.refresh_token)
    assert after.session_id == first.session_id


async def test_replay_after_the_successor_was_used_is_reuse_even_inside_the_window(
    identity_server, unique_email
):
    s = identity_server
    first = await register_and_login(s, unique_email())
    second = await refresh(s, first.refresh_token)
    third = await refresh(s, second.refresh_token)
    assert (
        await status_of(
            s.stub.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token), metadata=s.md())
        )
        == UNAUTH
    )
    # The whole family is revoked: the legitimate newest token dies too.
    assert (
        await status_of(
            s.stub.Refresh(pb.RefreshRequest(refresh_token=third.refresh_token), metadata=s.md())
        )
        == UNAUTH
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_reuse_after_the_grace_window_revokes_the_session_and_records_both_sides(
    start_identity, unique_email, backend
):
    clock = FixedClock()
    s = await start_identity(backend, clock=clock)
    email = unique_email()
    victim = await register_and_login(s, email, ip="198.51.100.1", user_agent="victim-browser")
    other = await login(s, email, ip="198.51.100.1", user_agent="victim-browser")
    successor = await refresh(
        s, victim.refresh_token, ip="198.51.100.1", user_agent="victim-browser"
    )
    clock.advance(31)
    error = await error_of(
        s.stub.Refresh(
            pb.RefreshRequest(refresh_token=victim.refresh_token),
            metadata=s.md(ip="192.0.2.66", user_agent="thief"),
        )
    )
    assert error.code() == UNAUTH
    assert error.details() == "invalid or expired credentials"
    assert (
        await status_of(
            s.stub.Refresh(
                pb.RefreshRequest(refresh_token=successor.refresh_token), metadata=s.md()
            )
        )
        == UNAUTH
    )
    # The other session of the user lives on (reuse revokes the family, not the user, by default).
    await refresh(s, other.refresh_token)
    async with s.app.uow() as uow:
        events = await uow.audit.list(victim.user_id, "refresh_token_reuse", 10, None)
    assert len(events) == 1
    detail = events[0].detail
    assert detail["cause"] == "theft_suspected"
    assert (
        detail["first_use"]["ip"] == "198.51.100.1"
        and detail["first_use"]["user_agent"] == "victim-browser"
    )
    assert detail["replay"]["ip"] == "192.0.2.66" and detail["replay"]["user_agent"] == "thief"
    assert events[0].session_id == victim.session_id
    # The user sees why the session ended.
    fresh = await login(s, email)
    listing = await s.stub.ListMySessions(
        pb.ListMySessionsRequest(access_token=fresh.access_token), metadata=s.md()
    )
    ended = {x.session_id: x for x in listing.sessions}[victim.session_id]
    assert ended.revoked_reason == "refresh_token_reuse"
    assert ended.status_text == "ended: suspected token theft"


async def test_same_client_retrying_after_the_window_is_classified_as_lost_response(
    start_identity, unique_email
):
    clock = FixedClock()
    s = await start_identity("sqlite", clock=clock)
    tokens = await register_and_login(s, unique_email())
    await refresh(s, tokens.refresh_token)
    clock.advance(45)
    assert (
        await status_of(
            s.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token), metadata=s.md())
        )
        == UNAUTH
    )
    async with s.app.uow() as uow:
        (event,) = await uow.audit.list(tokens.user_id, "refresh_token_reuse", 10, None)
    assert event.detail["cause"] == "lost_response"


async def test_reuse_can_revoke_every_session_of_the_user(start_identity, unique_email):
    s = await start_identity("sqlite", reuse_revokes_all=True)
    email = unique_email()
    first = await register_and_login(s, email)
    other = await login(s, email)
    second = await refresh(s, first.refresh_token)
    await refresh(s, second.refresh_token)
    assert (
        await status_of(
            s.stub.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token), metadata=s.md())
        )
        == UNAUTH
    )
    assert (
        await status_of(
            s.stub.Refresh(pb.RefreshRequest(refresh_token=other.refresh_token), metadata=s.md())
        )
        == UNAUTH
    )


async def test_twenty_concurrent_refreshes_of_one_token_share_one_successor(
    identity_server, unique_email
):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    answers = await asyncio.gather(*(refresh(s, tokens.refresh_token) for _ in range(20)))
    successors = {a.refresh_token for a in answers}
    assert len(successors) == 1
    assert sum(not a.grace_replay for a in answers) == 1  # exactly one call rotated
    (successor,) = successors
    await refresh(s, successor)


async def test_an_idle_session_expires(start_identity, unique_email):
    from datetime import timedelta

    clock = FixedClock()
    s = await start_identity(
        "sqlite", clock=clock, session_idle=timedelta(hours=1), session_absolute=timedelta(hours=3)
    )
    tokens = await register_and_login(s, unique_email())
    clock.advance(3000)
    tokens = await refresh(s, tokens.refresh_token)  # extends the idle lifetime
    clock.advance(3000)
    tokens = await refresh(s, tokens.refresh_token)
    clock.advance(3601)
    assert (
        await status_of(
            s.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token), metadata=s.md())
        )
        == UNAUTH
    )


async def test_the_absolute_lifetime_caps_rotation(start_identity, unique_email):
    from datetime import timedelta

    clock = FixedClock()
    s = await start_identity(
        "sqlite", clock=clock, session_idle=timedelta(hours=1), session_absolute=timedelta(hours=2)
    )
    tokens = await register_and_login(s, unique_email())
    clock.advance(2400)
    tokens = await refresh(s, tokens.refresh_token)
    assert tokens.refresh_expires_in == 3600  # idle lifetime, still inside the absolute one
    clock.advance(2400)
    tokens = await refresh(s, tokens.refresh_token)
    assert tokens.refresh_expires_in == 7200 - 4800  # capped by the absolute end
    clock.advance(2401)
    assert (
        await status_of(
            s.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token), metadata=s.md())
        )
        == UNAUTH
    )


async def test_unknown_malformed_revoked_and_reused_tokens_get_one_error_shape(
    identity_server, unique_email
):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    second = await refresh(s, tokens.refresh_token)
    await refresh(s, second.refresh_token)  # now `tokens` is reuse
    logged_out = await register_and_login(s, unique_email())
    await s.stub.Logout(pb.LogoutRequest(refresh_token=logged_out.refresh_token), metadata=s.md())
    candidates = [
        "idrt_" + "A" * 43,  # unknown
        "not-a-token",  # malformed
        "",  # empty
        logged_out.refresh_token,  # revoked
        tokens.refresh_token,  # reused
    ]
    shapes = set()
    for token in candidates:
        error = await error_of(
            s.stub.Refresh(pb.RefreshRequest(refresh_token=token), metadata=s.md())
        )
        shapes.add((error.code(), error.details()))
    assert shapes == {(UNAUTH, "invalid or expired credentials")}


async def test_an_ordinary_rotation_keeps_earlier_access_tokens_working(
    identity_server, unique_email
):
    s = identity_server
    tokens = await register_and_login(s, unique_email())
    await refresh(s, tokens.refresh_token)
    listing = await s.stub.ListMySessions(
        pb.ListMySessionsRequest(access_token=tokens.access_token), metadata=s.md()
    )
    assert [x.session_id for x in listing.sessions if x.current] == [tokens.session_id]


async def _interrupt_rotation(s, refresh_token: str) -> None:
    """The state a rotation leaves when it stops between its two writes (on PostgreSQL the
    consume and the successor commit separately): the token used, no successor, the session
    not advanced."""
    async with s.app.engine.begin() as conn:
        result = await conn.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.digest == refresh_token_digest(refresh_token))
            .values(used_at=datetime.now(UTC), used_ip="127.0.0.1", used_user_agent="test")
        )
        assert result.rowcount == 1


async def _tokens_of(s, session_id: str) -> list[int]:
    async with s.app.engine.connect() as conn:
        rows = await conn.execute(
            select(refresh_tokens.c.generation).where(refresh_tokens.c.session_id == session_id)
        )
        return sorted(r.generation for r in rows)


async def test_a_retry_after_an_interrupted_rotation_writes_the_missing_successor(
    identity_server, unique_email
):
    s = identity_server
    first = await register_and_login(s, unique_email())
    await _interrupt_rotation(s, first.refresh_token)
    retried = await refresh(s, first.refresh_token)
    assert retried.grace_replay
    assert await _tokens_of(s, first.session_id) == [0, 1]
    # The successor is a real, live token: it rotates normally, and the chain goes on.
    after = await refresh(s, retried.refresh_token)
    assert not after.grace_replay
    assert await _tokens_of(s, first.session_id) == [0, 1, 2]


async def test_concurrent_retries_after_an_interrupted_rotation_write_one_successor(
    identity_server, unique_email
):
    s = identity_server
    first = await register_and_login(s, unique_email())
    await _interrupt_rotation(s, first.refresh_token)
    answers = await asyncio.gather(*(refresh(s, first.refresh_token) for _ in range(10)))
    assert {a.refresh_token for a in answers} == {answers[0].refresh_token}
    assert await _tokens_of(s, first.session_id) == [0, 1]
    assert not (await refresh(s, answers[0].refresh_token)).grace_replay
