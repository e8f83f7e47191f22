"""The edge's share of identity's password-hash queue: refuse a login here, before any work,
while identity has just said its queue is full.

identity bounds the calls that wait for a hash thread (IDENTITY_HASH_QUEUE) and refuses the
rest with RESOURCE_EXHAUSTED, code `overloaded`, and a Retry-After. That refusal is a whole gRPC
call on both sides (a few hundred microseconds of CPU each), and a storm of clients that try
again at once turns into a storm of such calls taking CPU from the hashes the queue waits for.
So the edge learns from the refusal: for the Retry-After it was given, it sends identity no more
hashing calls than it had in flight when identity refused one (less that one), and answers the
rest itself with the same 429 identity would have sent. A call finishing frees a place. When the
Retry-After has passed the bound goes if the edge uses under half of it; otherwise it grows by
half (at least 8) for another Retry-After, and identity's next refusal sets it again. Clients
that try again at once (ignoring Retry-After) thus cost identity a few refused calls per
Retry-After, not one each, and the bound follows identity's room as it changes (another edge's
storm ending, a worker added). Every call that has identity hash a password takes a place:
login, registration, password change and reset, change of address, TOTP enrolment.

Only `overloaded` teaches this. identity's other RESOURCE_EXHAUSTED, the login throttle of one
account or address (`rate_limited`), says nothing about other logins: learning from it would
let one throttled attacker shut everybody out.

With several identity processes (`identity serve --workers`) one of them may refuse while
another has room; the edge then holds back a little early, until its bound grows back (by half
per Retry-After, one second from identity today). Each edge process learns on its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc

from edge_http.problems import IdentityCallError
from identity.wire import CODE_OVERLOADED

# How much a bound still hit after a Retry-After grows at least (else by half): a bound learned
# at 1 is back above a hundred within seven periods.
GROWTH_FLOOR = 8


class ShedAtEdge(IdentityCallError):
    """identity's own `overloaded` answer, given by the edge without calling identity."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(grpc.StatusCode.RESOURCE_EXHAUSTED, "", retry_after, CODE_OVERLOADED)


class HashAdmission:
    """This edge process's calls in flight that make identity hash a password, and the bound
    identity's last `overloaded` refusal set on them. One event loop: no lock needed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._in_flight = 0
        self._limit = 0  # 0: no bound (identity has not refused lately)
        self._until = 0.0
        self._period = 1

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextmanager
    def place(self) -> Iterator[None]:
        """A place for one call to identity, or ShedAtEdge at once: the answer identity would
        have given (RESOURCE_EXHAUSTED, `overloaded`, a Retry-After)."""
        self._admit()
        self._in_flight += 1
        try:
            yield
        except IdentityCallError as error:
            if error.status == grpc.StatusCode.RESOURCE_EXHAUSTED and error.code == CODE_OVERLOADED:
                self._learn(error.retry_after or 1)
            raise
        finally:
            self._in_flight -= 1

    def _admit(self) -> None:
        if not self._limit:
            return
        now = self._clock()
        if now >= self._until:
            if self._in_flight < self._limit // 2:
                # Under half of it: the storm is over, no bound until identity refuses again.
                # (Not at the first call below it: those in flight finish one by one, and a
                # bound dropped then would let every waiting client through at once.)
                self._limit = 0
                return
            # Still at the bound after a whole Retry-After: try half as many again, at least
            # GROWTH_FLOOR more (identity may have room now: a bound learned low, say while other
            # edges filled identity's queue, is back above a hundred within seven periods). If it
            # has no room, its refusal sets the bound again (_learn): a storm that ignores
            # Retry-After costs identity at most that growth in refused calls per period.
            self._limit += max(GROWTH_FLOOR, self._limit // 2)
            self._until = now + self._period
        if self._in_flight >= self._limit:
            raise ShedAtEdge(retry_after=max(1, math.ceil(self._until - now)))

    def _learn(self, retry_after: int) -> None:
        # The refused call still counts itself: the calls identity did take are the others.
        # Refusals of one burst come back one by one, each with one call fewer in flight, so
        # the bound settles on what identity took. At least one call stays allowed.
        self._limit = max(1, self._in_flight - 1)
        self._period = retry_after
        self._until = self._clock() + retry_after
