"""The signing keys in memory: which key signs, which keys verify, the JWKS document.

Loaded from the database at start and refreshed every few seconds, so every replica picks up a
rotation made by another one; key changes take a database lock so exactly one replica makes them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from identity.domain.clock import Clock
from identity.domain.errors import ConfigurationError, Unavailable
from identity.domain.jose import PrivateKey, VerificationKey
from identity.domain.keys import (
    KeyRecord,
    KeyState,
    KeyTimings,
    advance_lifecycle,
    create_key,
    jwks_document,
    load_private_key,
    rotation_due,
    verification_key,
)
from identity.domain.master_key import MasterKey
from identity.ports import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

FIRST_KEY_WAIT = 10.0  # seconds a booting replica waits for another one's first signing key


@dataclass(frozen=True)
class Jwks:
    json: str
    etag: str
    max_age: int


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    alg: str
    private: PrivateKey


class KeyRing:
    def __init__(
        self, uow: UnitOfWorkFactory, master: MasterKey, alg: str, timings: KeyTimings, clock: Clock
    ) -> None:
        self._uow = uow
        self._master = master
        self._alg = alg
        self._timings = timings
        self._clock = clock
        self._signing: ActiveKey | None = None
        self._verification: dict[str, VerificationKey] = {}
        self._jwks = Jwks(
            json='{"keys":[]}', etag='"empty"', max_age=int(timings.jwks_max_age.total_seconds())
        )
        self._records: tuple[KeyRecord, ...] = ()

    @property
    def signing_key(self) -> ActiveKey:
        if self._signing is None:
            raise Unavailable("no signing key loaded")
        return self._signing

    @property
    def verification_keys(self) -> Mapping[str, VerificationKey]:
        return self._verification

    @property
    def jwks(self) -> Jwks:
        return self._jwks

    @property
    def records(self) -> tuple[KeyRecord, ...]:
        return self._records

    async def start(self) -> None:
        """First load: makes the first key on an empty database, refuses a wrong master key.

        Replicas booting together on an empty database race for the key lock; the ones that
        lose it find no key yet, so they retry (and wait for the winner's commit) for a while
        instead of refusing to start."""
        deadline = asyncio.get_running_loop().time() + FIRST_KEY_WAIT
        await self.maintain()
        while self._signing is None:
            if asyncio.get_running_loop().time() > deadline:
                raise ConfigurationError("no current signing key could be loaded or created")
            await asyncio.sleep(0.1)
            await self.maintain()

    async def maintain(self) -> None:
        """Advance the lifecycle (and rotate when due) under the lock, then reload."""
        now = self._clock.now()
        async with self._uow() as uow:
            records = list(await uow.keys.all())
            changes = advance_lifecycle(records, now, self._timings)
            first_boot = not any(r.state is KeyState.CURRENT for r in records) and not changes
            if (
                changes or first_boot or rotation_due(records, now, self._timings)
            ) and await uow.keys.lock_for_rotation():
                records = list(await uow.keys.all())  # re-read under the lock
                transitions = advance_lifecycle(records, now, self._timings)
                for changed in transitions:
                    await uow.keys.update_state(changed)
                records = list(await uow.keys.all())
                if not any(r.state is KeyState.CURRENT for r in records):
                    # Nothing has ever been published, so no verifier can have cached a JWKS:
                    # the first key may sign at once.
                    await uow.keys.add(
                        create_key(self._alg, self._master, now, KeyState.CURRENT, now)
                    )
                    log.info("created the first signing key", extra={"alg": self._alg})
                elif rotation_due(records, now, self._timings):
                    await self._add_next(uow, now, self._alg)
                await uow.commit()
                for changed in transitions:  # current: signs now; previous: verifies only
                    log.info(
                        f"signing key is now {changed.state.value}",
                        extra={"kid": changed.kid, "alg": changed.alg},
                    )
        await self.reload()

    async def rotate(self, alg: str | None = None) -> KeyRecord:
        """Publish a new key now; it signs once every cached JWKS has expired."""
        now = self._clock.now()
        async with self._uow() as uow:
            if not await uow.keys.lock_for_rotation():
                raise Unavailable("another replica is rotating keys; try again")
            record = await self._add_next(uow, now, alg or self._alg)
            await uow.commit()
        await self.reload()
        return record

    async def _add_next(self, uow: UnitOfWork, now: datetime, alg: str) -> KeyRecord:
        record = create_key(alg, self._master, now, KeyState.NEXT, now + self._timings.jwks_max_age)
        await uow.keys.add(record)
        log.info("published next signing key", extra={"kid": record.kid, "alg": alg})
        return record

    async def reload(self) -> None:
        async with self._uow() as uow:
            records = tuple(await uow.keys.all())
        now = self._clock.now()
        current = [r for r in records if r.state is KeyState.CURRENT]
        if current:
            newest = max(current, key=lambda r: r.activates_at)
            if self._signing is None or self._signing.kid != newest.kid:
                self._signing = ActiveKey(
                    newest.kid, newest.alg, load_private_key(newest, self._master)
                )
        published = [r for r in records if r.published(now)]
        self._verification = {r.kid: verification_key(r) for r in published}
        document = json.dumps(jwks_document(published, now), sort_keys=True, separators=(",", ":"))
        etag = '"' + hashlib.sha256(document.encode()).hexdigest()[:32] + '"'
        self._jwks = Jwks(document, etag, int(self._timings.jwks_max_age.total_seconds()))
        self._records = records

    async def run_maintenance(self, interval: float = 5.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.maintain()
            except Exception:  # keep serving the keys we have; the next round retries
                log.exception("signing key maintenance failed")
