"""Argon2id password hashing in a bounded pool off the event loop: a bounded queue waits for a
hash thread, and a call beyond it is refused at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from identity import metrics
from identity.domain.errors import Overloaded
from identity.domain.hash_params import DEFAULT_HASH_QUEUE, HASH_PRIORITIES, Argon2Params

R = TypeVar("R")
HASH_THREAD_NICENESS = 10  # what the priorities in HASH_PRIORITIES mean: see their comment
# Set while a task holds a place taken by `admission()`: its hashes use that place.
_ADMITTED: ContextVar[bool] = ContextVar("hash_admitted", default=False)


class PasswordHashing:
    """At most `workers` hashes run at once (argon2-cffi releases the GIL); at most `max_waiting`
    more wait for a thread, in order; beyond that a call fails at once with Overloaded, so a
    login storm cannot exhaust memory or tasks (each running hash holds `memory_kib`)."""

    def __init__(
        self,
        params: Argon2Params,
        workers: int | None = None,
        max_waiting: int = DEFAULT_HASH_QUEUE,
        priority: str = HASH_PRIORITIES[0],
    ) -> None:
        if priority not in HASH_PRIORITIES:
            raise ValueError(f"priority: one of {', '.join(HASH_PRIORITIES)}")
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._workers = workers or max(1, os.cpu_count() or 1)
        self._max_in_flight = self._workers + max_waiting
        self._pool = ThreadPoolExecutor(
            max_workers=self._workers,
            thread_name_prefix="argon2",
            initializer=_lower_priority,
            initargs=(priority == "idle",),
        )
        self._in_flight = 0
        # A hash of a random password: verifying against it makes an unknown email cost the
        # same as a wrong password.
        self._dummy = self._hasher.hash(os.urandom(16).hex())

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """A place in the queue for the hashes this task runs inside the block, or Overloaded at
        once when the queue is full: a login takes it before any other work (its database
        reads), so a refusal costs only this check, and an admitted login is never refused
        halfway. Nested admissions share the outer place."""
        if _ADMITTED.get():
            yield
            return
        self._enter()
        admitted = _ADMITTED.set(True)
        try:
            yield
        finally:
            _ADMITTED.reset(admitted)
            self._leave()

    def _enter(self) -> None:
        if self._in_flight >= self._max_in_flight:
            metrics.HASH_SHED.inc()
            raise Overloaded(retry_after=1)
        self._in_flight += 1
        metrics.HASH_IN_FLIGHT.inc()

    def _leave(self) -> None:
        self._in_flight -= 1
        metrics.HASH_IN_FLIGHT.dec()

    async def _run(self, fn: Callable[..., R], *args: str) -> R:
        loop = asyncio.get_running_loop()
        if _ADMITTED.get():
            return await loop.run_in_executor(self._pool, fn, *args)
        self._enter()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        finally:
            self._leave()

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True if the password matches; a missing hash costs one full verification anyway."""
        ok = await self._run(self._verify_sync, password_hash or self._dummy, password)
        return ok and password_hash is not None

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority(idle: bool) -> None:
    """Linux schedules each thread on its own: nice value and policy apply to the calling thread
    (setpriority on its thread id, sched_setscheduler on 0). Nice is set under SCHED_IDLE too: it
    is the fallback where SCHED_IDLE is refused, and how bench/login.py tells the threads apart."""
    tid = threading.get_native_id()
    with contextlib.suppress(OSError, AttributeError):
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + HASH_THREAD_NICENESS))
    if idle:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
