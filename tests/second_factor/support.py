"""Second-factor calls over the real gRPC API, with codes computed from the server's clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from identity.domain.clock import FixedClock
from identity.domain.totp import code_at, time_step
from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD, Running, remember
from tests.helpers import login, register_and_login
from tests.mail import MailCatcher

# Everything secret the second-factor tests saw: checked against logs and the raw database.
SEEN: set[str] = set()
SEEN_BYTES: set[bytes] = set()


def keep(*secrets: str) -> None:
    SEEN.update(secrets)
    remember(*secrets)


@dataclass
class Mfa:
    s: Running
    clock: FixedClock
    catcher: MailCatcher

    def code(self, secret: bytes, steps: int = 0) -> str:
        return code_at(secret, time_step(self.clock.now()) + steps)

    def next_step(self) -> None:
        """Move the clock to the next TOTP step, so a new code is due."""
        self.clock.advance(30)


@dataclass
class Enrolled:
    email: str
    secret: bytes
    recovery_codes: list[str]
    access_token: str  # the enrolling session's, aal2
    refresh_token: str
    extra: dict[str, Any] = field(default_factory=dict)


def b32decode(secret: str) -> bytes:
    import base64

    return base64.b32decode(secret + "=" * (-len(secret) % 8))


async def begin(
    m: Mfa, access_token: str, password: str = PASSWORD
) -> pb.BeginTotpEnrollmentResponse:
    answer = await m.s.stub.BeginTotpEnrollment(
        pb.BeginTotpEnrollmentRequest(access_token=access_token, password=password),
        metadata=m.s.md(),
    )
    keep(answer.secret)
    SEEN_BYTES.add(b32decode(answer.secret))
    return answer


async def confirm(m: Mfa, access_token: str, code: str) -> pb.ConfirmTotpEnrollmentResponse:
    answer = await m.s.stub.ConfirmTotpEnrollment(
        pb.ConfirmTotpEnrollmentRequest(access_token=access_token, code=code), metadata=m.s.md()
    )
    keep(*answer.recovery_codes, *(c.replace("-", "") for c in answer.recovery_codes))
    remember(answer.access_token)
    return answer


async def enrol(m: Mfa, email: str) -> Enrolled:
    tokens = await register_and_login(m.s, email)
    started = await begin(m, tokens.access_token)
    secret = b32decode(started.secret)
    confirmed = await confirm(m, tokens.access_token, m.code(secret))
    m.next_step()  # the confirming code's step is spent
    return Enrolled(
        email, secret, list(confirmed.recovery_codes), confirmed.access_token, tokens.refresh_token
    )


async def ticket(m: Mfa, email: str) -> str:
    answer = await login(m.s, email)
    assert answer.second_factor_required and not answer.access_token
    keep(answer.mfa_ticket)
    return answer.mfa_ticket


def complete(m: Mfa, mfa_ticket: str, code: str) -> Any:
    """The CompleteLogin call (awaitable)."""
    return m.s.stub.CompleteLogin(
        pb.CompleteLoginRequest(mfa_ticket=mfa_ticket, code=code), metadata=m.s.md()
    )


async def completed(m: Mfa, mfa_ticket: str, code: str) -> pb.TokenResponse:
    answer = await complete(m, mfa_ticket, code)
    remember(answer.access_token, answer.refresh_token)
    return answer


def step_up(m: Mfa, access_token: str, code: str) -> Any:
    return m.s.stub.StepUp(
        pb.StepUpRequest(access_token=access_token, code=code), metadata=m.s.md()
    )


async def state(m: Mfa, access_token: str) -> pb.SecondFactorState:
    return await m.s.stub.GetSecondFactor(
        pb.GetSecondFactorRequest(access_token=access_token), metadata=m.s.md()
    )


TABLES = (
    "second_factors",
    "recovery_codes",
    "mfa_tickets",
    "login_throttle",
    "audit_events",
    "sessions",
)


async def row_counts(s: Running) -> dict[str, Any]:
    async with s.app.engine.connect() as conn:
        counts: dict[str, Any] = {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in TABLES
        }
        counts["ticket_failures"] = (
            await conn.execute(text("SELECT coalesce(sum(failures), 0) FROM mfa_tickets"))
        ).scalar_one()
        return counts
