"""decide_refresh driven by a Hypothesis state machine over one token family.

The model plays the store (it reports the facts the SQL would: whether the atomic consume won,
when the token was used and by whom, whether its successor was used) and applies each outcome.
The invariants are the rotation contract of DESIGN §2."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from identity.domain.authentication import Authentication
from identity.domain.refresh import (
    ClientInfo,
    GraceReplay,
    Invalid,
    PresentedToken,
    RefreshDecision,
    Reuse,
    ReuseCause,
    Rotate,
    decide_refresh,
)

GRACE = timedelta(seconds=30)
IDLE = timedelta(days=14)
CLIENTS = [ClientInfo("198.51.100.1", "tab"), ClientInfo("192.0.2.66", "thief")]


@dataclass
class Token:
    generation: int
    used_at: datetime | None = None
    used_by: ClientInfo = ClientInfo()


class RefreshFamily(RuleBasedStateMachine):
    @initialize()
    def open_session(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)
        self.tokens = [Token(0)]
        self.revoked = False
        self.idle_expires_at = self.now + IDLE
        self.last: RefreshDecision | None = None

    def facts(self, generation: int, client: ClientInfo) -> PresentedToken:
        token = self.tokens[generation]
        live = not self.revoked and self.now < self.idle_expires_at
        won = token.used_at is None and live  # the conditional UPDATE
        if won:
            token.used_at, token.used_by = self.now, client
        successor = self.tokens[generation + 1] if generation + 1 < len(self.tokens) else None
        return PresentedToken(
            session_id="s",
            user_id="u",
            client_id="c",
            generation=generation,
            consumed_now=won,
            used_at=token.used_at,
            used_by=token.used_by,
            session_revoked=self.revoked,
            idle_expires_at=self.idle_expires_at,
            absolute_expires_at=self.idle_expires_at + IDLE,
            successor_used_at=successor.used_at if successor else None,
            successor_issued=successor is not None,
            secret_enc=b"",
            authentication=Authentication.password(self.now),
        )

    @rule(pick=st.integers(0, 50), client=st.sampled_from(CLIENTS))
    def present(self, pick: int, client: ClientInfo) -> None:
        generation = pick % len(self.tokens)
        before_used = self.tokens[generation].used_at
        successor_used = (
            generation + 1 < len(self.tokens) and self.tokens[generation + 1].used_at is not None
        )
        decision = decide_refresh(self.facts(generation, client), self.now, GRACE, client)
        self.last = decision
        if isinstance(decision, Rotate):
            assert before_used is None and generation == len(self.tokens) - 1
            self.tokens.append(Token(generation + 1))
            self.idle_expires_at = self.now + IDLE
        elif isinstance(decision, GraceReplay):
            # Only the newest used token, successor unused, inside the window, session live.
            assert before_used is not None and self.now - before_used <= GRACE
            assert not successor_used and not self.revoked
        elif isinstance(decision, Reuse):
            assert before_used is not None
            assert successor_used or self.now - before_used > GRACE
            assert isinstance(decision.cause, ReuseCause)
            # Both sides of the incident: the first use as the store saw it, and this replay.
            assert decision.first_use.at == before_used and decision.replay.at == self.now
            assert decision.replay.by == client
            self.revoked = True
        else:
            assert isinstance(decision, Invalid)
            assert self.revoked or self.now >= self.idle_expires_at

    @rule(seconds=st.sampled_from([1, 10, 29, 30, 31, 120, 3600]))
    def wait(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: not self.revoked)
    @rule()
    def idle_out(self) -> None:
        self.now = self.idle_expires_at

    @invariant()
    def at_most_one_live_refresh_token(self) -> None:
        unused = [t for t in self.tokens if t.used_at is None]
        assert len(unused) == 1 and unused[0] is self.tokens[-1]

    @invariant()
    def a_revoked_family_never_rotates_again(self) -> None:
        if self.revoked:
            assert isinstance(self.last, Reuse | Invalid)


TestRefreshFamily = RefreshFamily.TestCase
TestRefreshFamily.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
