"""Counting throttled events (failed logins, mail-sending requests) in the shared throttle table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from identity.domain.errors import RateLimited
from identity.domain.throttle import ThrottlePolicy
from identity.ports import UnitOfWork, UnitOfWorkFactory


async def count_failure(uow: UnitOfWork, key: str, policy: ThrottlePolicy, now: datetime) -> None:
    failures = await uow.throttle.record_failure(key, now, now - policy.reset_after)
    delay = policy.delay(failures)
    if delay:
        await uow.throttle.block(key, now + delay)


async def count_request(
    uow_factory: UnitOfWorkFactory, keys: Sequence[tuple[str, ThrottlePolicy]], now: datetime
) -> None:
    """Refuse with RateLimited while any key is blocked; else count this request on each key
    (a key past its free requests blocks the next ones for a growing delay)."""
    async with uow_factory() as uow:
        blocked = (await uow.throttle.state([key for key, _ in keys])).blocked_until
        if blocked is not None and blocked > now:
            raise RateLimited((blocked - now).total_seconds())
        for key, policy in keys:
            await count_failure(uow, key, policy, now)
        await uow.commit()
