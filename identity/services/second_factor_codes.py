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
from identity.ports import FactorRecord, ThrottleState, UnitOfWork, UnitOfWorkFactory, UserRecord
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

    def refuse_if_throttled(self, attempt: Attempt, throttle: ThrottleState) -> None:
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
        factor: FactorRecord,
        act: Callable[[UnitOfWork, datetime], Awaitable[T]],
        *,
        confirming: bool = False,
    ) -> T:
        """Check the code against `factor`, spend it and run `act` in the same transaction,
        committed together; or count the failure and raise SecondFactorRefused. `confirming`:
        the factor is the pending one, and its first code activates it."""
        now = self._clock.now()
        user_id = attempt.user.user_id
        step: int | None = None
        if isinstance(attempt.code, TotpCode):
            secret = self._master.decrypt(factor.secret_enc, secret_aad(user_id))
            step = match_step(secret, attempt.code.digits, now)
            if step is None:
                await self._failed(attempt, now, "wrong")
        async with self._uow() as uow:
            if isinstance(attempt.code, RecoveryCode):
                spent = not confirming and await uow.recovery_codes.use(
                    user_id, attempt.code.digest, now
                )
            elif confirming:
                spent = await uow.second_factors.confirm(user_id, step or 0, now)
            else:
                spent = await uow.second_factors.use_step(user_id, step or 0)
            if spent:
                result = await act(uow, now)
                await uow.commit()
        if not spent:
            # A TOTP code of a step already used (a replay, or the loser of a race), or a
            # recovery code the user does not have (any more).
            await self._failed(attempt, now, "wrong" if step is None else "replayed")
        metrics.SECOND_FACTOR.labels(attempt.action, "ok", attempt.kind).inc()
        log.info(
            "second factor accepted",
            extra={"user_id": user_id, "action": attempt.action, "factor": attempt.kind},
        )
        return result

    async def _failed(self, attempt: Attempt, now: datetime, cause: str) -> NoReturn:
        async with self._uow() as uow:
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
            await uow.commit()
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
