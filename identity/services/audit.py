"""Audit entries written from the transport edge (denied calls) and read by operators."""

from __future__ import annotations

from identity.domain.clock import Clock
from identity.ports import UnitOfWorkFactory
from identity.services.service_accounts import Caller

ADMIN_PREFIX = "/identity.v1.IdentityAdmin/"


class AuditTrail:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def denied(self, method: str, caller: Caller | None, outcome: str) -> None:
        """Every refused admin call leaves one audit event; other refusals only a log line."""
        if not method.startswith(ADMIN_PREFIX):
            return
        async with self._uow() as uow:
            await uow.audit.record(
                "admin." + method.removeprefix(ADMIN_PREFIX),
                caller.name if caller else "anonymous",
                self._clock.now(),
                outcome=outcome,
            )
            await uow.commit()
