"""The cached JWK Set: refreshed on expiry or on an unknown kid, one fetch at a time.

Rules, so that neither an outage nor random `kid`s can hurt the caller:
- one fetch in flight: concurrent misses wait for it (single-flight), sync and async alike;
- at most one fetch per `cooldown` triggered by unknown kids or retried after a failure;
- a kid missing from a freshly fetched set enters a bounded LRU and triggers no fetch for a while;
- a failed fetch (error, timeout, bad document) keeps the last good set in service.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from identity.domain.clock import Clock
from identity.domain.jose import VerificationKey
from identity.verify.keyset import parse_jwks
from identity.verify.sources import FetchedJwks, JwksSource

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 300.0
MAX_MAX_AGE = 86400.0
COLD_RETRY = 1.0  # before any set was fetched, retry a failed fetch after this many seconds
_NO_KEYS: Mapping[str, VerificationKey] = MappingProxyType({})


@dataclass(frozen=True)
class _KeySet:
    keys: Mapping[str, VerificationKey]
    expires_at: float
    etag: str | None


@dataclass(eq=False)
class _Flight:
    """One fetch in progress; `done` is set when it ended, successfully or not."""

    done: threading.Event = field(default_factory=threading.Event)
    succeeded: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task[None] | None = None


class KeyCache:
    """The verification keys of one source, with the fetch rules above; safe across threads."""

    def __init__(
        self,
        source: JwksSource,
        *,
        algorithms: frozenset[str],
        clock: Clock,
        cooldown: float,
        negative_cache_size: int,
        wait_timeout: float,
    ) -> None:
        self._source = source
        self._algorithms = algorithms
        self._clock = clock
        self._cooldown = cooldown
        self._negative_size = negative_cache_size
        self._negative_ttl = max(cooldown, DEFAULT_MAX_AGE)
        self._wait_timeout = wait_timeout
        self._lock = threading.Lock()
        self._set: _KeySet | None = None
        self._last_attempt: float | None = None
        self._flight: _Flight | None = None
        self._unknown: OrderedDict[str, float] = OrderedDict()

    @property
    def keys(self) -> Mapping[str, VerificationKey]:
        current = self._set
        return _NO_KEYS if current is None else current.keys

    @property
    def loaded(self) -> bool:
        return self._set is not None

    def fresh(self, now: float) -> Mapping[str, VerificationKey] | None:
        """The keys while the set has not expired at `now`; None when a refresh is due. Lock-free
        and one call: every cache hit of the Verifier asks it."""
        current = self._set
        return None if current is None or now >= current.expires_at else current.keys

    def stale(self, now: float) -> bool:
        """Whether a plain refresh() could have anything to do: no set yet, or it expired.
        Lock-free, so the common case (a fresh set) costs one comparison."""
        current = self._set
        return current is None or now >= current.expires_at

    def refresh(self, kid: str | None = None) -> None:
        """Fetch if due (expired set, or `kid` unknown); wait for a fetch already running."""
        claim = self._claim(kid)
        if claim is None:
            return
        flight, owner = claim
        if not owner:
            flight.done.wait(self._wait_timeout)
            return
        try:
            fetched = self._source.fetch(self._etag())
        except Exception as exc:  # any failure: keep serving the last good set
            self._finish(flight, None, exc)
        else:
            self._finish(flight, fetched, None)
        if flight.succeeded:
            self._remember_unknown(kid)

    async def arefresh(self, kid: str | None = None) -> None:
        """The async twin of refresh: the fetch runs as a task no caller's cancellation stops."""
        claim = self._claim(kid)
        if claim is None:
            return
        flight, owner = claim
        loop = asyncio.get_running_loop()
        if owner:
            flight.loop = loop
            flight.task = loop.create_task(self._afetch(flight))
        if flight.task is not None and flight.loop is loop:
            await asyncio.wait({flight.task}, timeout=self._wait_timeout)
        else:  # the fetch runs in another thread or event loop
            await asyncio.to_thread(flight.done.wait, self._wait_timeout)
        if owner and flight.succeeded:
            self._remember_unknown(kid)

    async def _afetch(self, flight: _Flight) -> None:
        try:
            fetched = await self._source.afetch(self._etag())
        except Exception as exc:
            self._finish(flight, None, exc)
        else:
            self._finish(flight, fetched, None)

    def _etag(self) -> str | None:
        current = self._set
        return None if current is None else current.etag

    def _claim(self, kid: str | None) -> tuple[_Flight, bool] | None:
        """Join the fetch in flight, start one (owner), or None when no fetch is due."""
        with self._lock:
            now = self._clock.now().timestamp()
            current = self._set
            if current is None:
                wanted, pause = True, COLD_RETRY
            elif kid is None or kid in current.keys:
                wanted, pause = now >= current.expires_at, self._cooldown
            else:
                wanted, pause = not self._known_unknown(kid, now), self._cooldown
            if not wanted:
                return None
            if self._flight is not None:
                # A caller merely renewing an expired set goes on with it; a miss waits.
                return (self._flight, False) if current is None or kid is not None else None
            if self._last_attempt is not None and now - self._last_attempt < pause:
                return None
            self._flight = _Flight()
            self._last_attempt = now
            return self._flight, True

    def _finish(
        self, flight: _Flight, fetched: FetchedJwks | None, error: Exception | None
    ) -> None:
        try:
            if fetched is not None:
                self._store(fetched)
                flight.succeeded = True
            else:
                log.warning("JWK Set fetch from %r failed (%s)", self._source, error)
        except Exception as exc:  # a bad document is one more failed fetch
            log.warning(
                "JWK Set from %r refused (%s); keeping the last good set", self._source, exc
            )
        finally:
            with self._lock:
                self._flight = None
            flight.done.set()

    def _store(self, fetched: FetchedJwks) -> None:
        now = self._clock.now().timestamp()
        max_age = DEFAULT_MAX_AGE if fetched.max_age is None else fetched.max_age
        expires_at = now + min(max(max_age, self._cooldown), MAX_MAX_AGE)
        if fetched.document is None:  # not modified
            with self._lock:
                if self._set is not None:
                    self._set = _KeySet(self._set.keys, expires_at, self._set.etag)
            return
        keys = MappingProxyType(parse_jwks(fetched.document, self._algorithms))
        with self._lock:
            self._set = _KeySet(keys, expires_at, fetched.etag)
            for kid in keys:
                self._unknown.pop(kid, None)
        log.info("JWK Set loaded from %r: kids %s", self._source, sorted(keys))

    def _known_unknown(self, kid: str, now: float) -> bool:
        seen = self._unknown.get(kid)
        if seen is None:
            return False
        if now - seen >= self._negative_ttl:
            del self._unknown[kid]
            return False
        self._unknown.move_to_end(kid)
        return True

    def _remember_unknown(self, kid: str | None) -> None:
        """After a successful fetch of ours, a kid still missing from it is recorded as unknown."""
        if kid is None:
            return
        with self._lock:
            current = self._set
            if current is None or kid in current.keys:
                return
            self._unknown[kid] = self._clock.now().timestamp()
            self._unknown.move_to_end(kid)
            while len(self._unknown) > self._negative_size:
                self._unknown.popitem(last=False)
