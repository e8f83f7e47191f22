"""Service credentials (the callers of the gRPC API) and their roles.

A credential secret is 32 random bytes with a recognisable prefix; only its SHA-256 digest is
stored (a high-entropy secret needs no slow hash). Digests are cached in memory so checking a
caller never costs a database round trip on the hot path.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import re
import time
import uuid
from dataclasses import dataclass

from identity.domain.clock import Clock
from identity.domain.errors import AlreadyExists, InvalidArgument
from identity.domain.opaque import new_opaque_token
from identity.ports import UnitOfWorkFactory

CREDENTIAL_PREFIX = "idsk_"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SECRET_RE = re.compile(r"idsk_[A-Za-z0-9_-]{43}")
RELOAD_COOLDOWN = 1.0


class Role(enum.StrEnum):
    EDGE = "edge"
    SERVICE = "service"
    ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role


def credential_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


async def create_credential(
    uow_factory: UnitOfWorkFactory, role: str, name: str, clock: Clock
) -> str:
    """Store a new credential; returns its secret, which is never stored or shown again."""
    try:
        parsed_role = Role(role)
    except ValueError:
        raise InvalidArgument(f"role: one of {', '.join(r.value for r in Role)}") from None
    if _NAME_RE.fullmatch(name) is None:
        raise InvalidArgument("name: 1-64 letters, digits, '.', '_' or '-'")
    secret = new_opaque_token(CREDENTIAL_PREFIX)
    async with uow_factory() as uow:
        if any(c.name == name for c in await uow.credentials.active()):
            raise AlreadyExists(f"credential {name!r} already exists")
        await uow.credentials.add(
            str(uuid.uuid4()), name, parsed_role.value, credential_digest(secret), clock.now()
        )
        await uow.audit.record(
            "credential_created", "operator", clock.now(), detail={"name": name, "role": role}
        )
        await uow.commit()
    return secret


class CallerDirectory:
    """Who a presented credential belongs to, from an in-memory copy of the credentials table.

    An unknown digest triggers at most one reload per second (single-flight), so a credential
    created by `identity credentials create` works within a second, and random secrets cannot
    turn into a query per request."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow = uow_factory
        self._by_digest: dict[bytes, Caller] = {}
        self._last_reload = 0.0
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        async with self._uow() as uow:
            records = await uow.credentials.active()
        self._by_digest = {r.secret_digest: Caller(r.name, Role(r.role)) for r in records}
        self._last_reload = time.monotonic()

    async def identify(self, secret: str) -> Caller | None:
        if _SECRET_RE.fullmatch(secret) is None:
            return None
        digest = credential_digest(secret)
        caller = self._lookup(digest)
        if caller is None and time.monotonic() - self._last_reload >= RELOAD_COOLDOWN:
            async with self._lock:
                if time.monotonic() - self._last_reload >= RELOAD_COOLDOWN:
                    await self.load()
            caller = self._lookup(digest)
        return caller

    def _lookup(self, digest: bytes) -> Caller | None:
        # A dict lookup keyed by the SHA-256 of the presented secret: an attacker cannot steer
        # the digest's bytes, so lookup timing reveals nothing about a stored secret (the reason
        # hmac.compare_digest is used on raw secrets does not arise for their digests).
        return self._by_digest.get(digest)
