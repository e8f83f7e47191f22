"""Checking a second-factor code for a user, the one way every use case does it.

A TOTP code is matched against the clock first (no database); then, in the unit of work that
acts on it, it is spent with a conditional UPDATE (its step later than the last one used; a
recovery code unused), so a code never works twice, not even in two concurrent calls. A code
that does not match, or loses that race, is one failure on the account's throttle (growing
delays, never a lock-out) and, given a ticket, on the ticket; each refusal is the one
SecondFactorRefused. While the account is throttled nothing is checked at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn, TypeVar

from identity import metrics
from identity.domain.clock import Clock
from identity.domain.errors import RateLimited, SecondFactorRefused
from identity.domain.master_key import MasterKey
from identity.domain.passwords import normalize_email
from identity.domain.second_factor import RecoveryCode, TotpCode
from identity.domain.throttle import ACCOUNT_POLICY, account_key
from identity.domain.totp import match_step
from identity.ports import ThrottleState, UnitOfWork, UnitOfWorkFactory, UserRecord
from identity.services.throttling import count_failure

log = logging.getLogger(__name__)

T = TypeVar("T")


def secret_aad(user_id: str) -> bytes:
    """Associated data of a user's encrypted TOTP secret: binds it to its row."""
    return b"totp:" + user_id.encode()


@dataclass(frozen=True)
class Attempt:
    """One presentation of a code: what for (a metrics label and audit detail), by whom."""

    action: str  # login, step_up, confirm
    user: UserRecord
    code: TotpCode | RecoveryCode
    ticket_digest: bytes | None = None
    session_id: str | None = None

    @property
    def kind(self) -> str:
        return "totp" if isinstance(self.code, TotpCode) else "recovery"

    @property
    def throttle_key(self) -> str:
        return account_key(normalize_email(self.user.email))


class SecondFactorCodes:
    def __init__(self, uow: UnitOfWorkFactory, master: MasterKey, clock: Clock) -> None:
        self._uow = uow
        self._master = master
        self._clock = clock

    def _refuse_if_throttled(self, attempt: Attempt, throttle: ThrottleState) -> None:
        now = self._clock.now()
        blocked = throttle.blocked_until
        if blocked is not None and blocked > now:
            metrics.SECOND_FACTOR.labels(attempt.action, "throttled", attempt.kind).inc()
            log.warning(
                "second factor throttled",
                extra={"user_id": attempt.user.user_id, "action": attempt.action},
            )
            raise RateLimited((blocked - now).total_seconds())

    async def spend(
        self,
        attempt: Attempt,
        act: Callable[[UnitOfWork, datetime], Awaitable[T]],
        *,
        confirming: bool = False,
    ) -> T:
        """Check the code, spend it and run `act`, all in one transaction committed together;
        or count the failure and raise SecondFactorRefused. `confirming`: the factor is the
        pending one, and its first code activates it.

        The user's factor row is locked first (`lock`), and the throttle and the ticket are read
        under that lock: parallel attempts are checked one after another, each seeing the
        failures counted before it, so a burst cannot try more codes than one attempt at a time
        could (the ticket's five, the account throttle's free failures)."""
        now = self._clock.now()
        user_id = attempt.user.user_id
        async with self._uow() as uow:
            factor = await uow.second_factors.lock(user_id)
            if factor is None or (factor.confirmed_at is None) != confirming:
                await self._refused(attempt, "no_factor")
            self._refuse_if_throttled(attempt, await uow.throttle.state([attempt.throttle_key]))
            if attempt.ticket_digest is not None and (
                await uow.mfa_tickets.find(attempt.ticket_digest, now) is None
            ):
                await self._refused(attempt, "dead_ticket")
            step: int | None = None
            if isinstance(attempt.code, RecoveryCode):
                spent = not confirming and await uow.recovery_codes.use(
                    user_id, attempt.code.digest, now
                )
            else:
                # Matched against the secret read under the lock: for a confirmation, the
                # pending secret as it is now, not one a second enrolment has replaced.
                secret = self._master.decrypt(factor.secret_enc, secret_aad(user_id))
                step = match_step(secret, attempt.code.digits, now)
                if step is None:
                    spent = False
                elif confirming:
                    spent = await uow.second_factors.confirm(user_id, step, now)
                else:
                    spent = await uow.second_factors.use_step(user_id, step)
            if spent:
                result = await act(uow, now)
                await uow.commit()
            else:
                # A wrong code, a TOTP code of a step already used (a replay), or a recovery
                # code the user does not have (any more): counted in this same transaction.
                cause = "replayed" if step is not None else "wrong"
                ticket_failures = await self._count_failure(uow, attempt, now, cause)
                await uow.commit()
        if not spent:
            await self._refused(attempt, cause, ticket_failures)
        metrics.SECOND_FACTOR.labels(attempt.action, "ok", attempt.kind).inc()
        log.info(
            "second factor accepted",
            extra={"user_id": user_id, "action": attempt.action, "factor": attempt.kind},
        )
        return result

    async def _count_failure(
        self, uow: UnitOfWork, attempt: Attempt, now: datetime, cause: str
    ) -> int | None:
        await count_failure(uow, attempt.throttle_key, ACCOUNT_POLICY, now)
        ticket_failures = None
        if attempt.ticket_digest is not None:
            ticket_failures = await uow.mfa_tickets.failed(attempt.ticket_digest)
        await uow.audit.record(
            "second_factor_failed",
            "user",
            now,
            user_id=attempt.user.user_id,
            session_id=attempt.session_id,
            outcome="failed",
            detail={"action": attempt.action, "code": attempt.kind, "cause": cause},
        )
        return ticket_failures

    async def _refused(
        self, attempt: Attempt, cause: str, ticket_failures: int | None = None
    ) -> NoReturn:
        metrics.SECOND_FACTOR.labels(attempt.action, cause, attempt.kind).inc()
        log.warning(
            "second factor refused",
            extra={
                "user_id": attempt.user.user_id,
                "action": attempt.action,
                "cause": cause,
                "ticket_failures": ticket_failures,
            },
        )
        raise SecondFactorRefused()
