"""Codes sent in parallel are checked one after another (the user's factor row is locked for the
whole check): a burst gets no more tries than the same codes sent one by one. And a sign-in
waiting for its code (an MFA ticket) ends with the user's sessions. Real gRPC, PostgreSQL and
SQLite."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc

from identity.domain.second_factor import TICKET_MAX_FAILURES
from identity.domain.throttle import ACCOUNT_POLICY
from identity.v1 import identity_pb2 as pb
from tests.helpers import error_of
from tests.second_factor.support import complete, enrol, row_counts, step_up, ticket

BURST = 40


def wrong_code(m, secret: bytes) -> str:
    """Six digits that are the code of none of the steps the server accepts now."""
    good = {m.code(secret, steps) for steps in (-1, 0, 1)}
    return next(c for c in (f"{i:06d}" for i in range(1000)) if c not in good)


async def test_a_burst_of_wrong_codes_on_one_ticket_counts_only_the_tickets_tries(
    mfa, unique_email
):
    m = mfa
    user = await enrol(m, unique_email())
    mfa_ticket = await ticket(m, user.email)
    before = await row_counts(m.s)
    bad = wrong_code(m, user.secret)
    errors = await asyncio.gather(*(error_of(complete(m, mfa_ticket, bad)) for _ in range(BURST)))
    after = await row_counts(m.s)
    assert {e.code() for e in errors} == {grpc.StatusCode.UNAUTHENTICATED}
    # Exactly the ticket's tries were checked and counted; every later one met a dead ticket.
    assert after["ticket_failures"] - before["ticket_failures"] == TICKET_MAX_FAILURES
    assert after["audit_events"] - before["audit_events"] == TICKET_MAX_FAILURES
    # ... and the right code cannot revive it.
    dead = await error_of(complete(m, mfa_ticket, m.code(user.secret)))
    assert dead.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_burst_of_wrong_step_ups_is_throttled_as_if_sent_one_by_one(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    bad = wrong_code(m, user.secret)
    errors = await asyncio.gather(
        *(error_of(step_up(m, user.access_token, bad)) for _ in range(BURST))
    )
    codes = Counter(e.code() for e in errors)
    # The free failures, then the one that starts the delay; every later try is refused
    # before its code is looked at (the clock stands still, so the delay never ends).
    checked = ACCOUNT_POLICY.free_failures + 1
    assert codes == {
        grpc.StatusCode.UNAUTHENTICATED: checked,
        grpc.StatusCode.RESOURCE_EXHAUSTED: BURST - checked,
    }


async def test_a_ticket_ends_with_the_users_sessions(mfa, unique_email):
    m = mfa
    user = await enrol(m, unique_email())
    waiting = await ticket(m, user.email)  # a sign-in somewhere, waiting for its code
    await m.s.stub.Logout(
        pb.LogoutRequest(access_token=user.access_token, all=True), metadata=m.s.md()
    )
    refused = await error_of(complete(m, waiting, m.code(user.secret)))
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
