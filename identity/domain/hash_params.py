"""Argon2id parameters: OWASP's floors, the CPU priorities of the hash threads, their queue."""

from __future__ import annotations

from dataclasses import dataclass

# OWASP Password Storage Cheat Sheet: Argon2id, m=19456 KiB (19 MiB), t=2, p=1 at the least.
MIN_MEMORY_KIB = 19456
MIN_TIME_COST = 2
MIN_PARALLELISM = 1
# Hash threads never make the event loop thread (Introspect, refreshes, the rest of each login)
# wait for a core. "low" (the default) runs them at nice +10: on a core both want, the kernel's
# fair scheduler gives the loop thread about nine tenths (weights 1024 against 110) and the hash
# about one tenth, so hashing always progresses. "idle" runs them under SCHED_IDLE: they get only
# CPU no other thread of any process wants. That kept the introspection p99 of a login storm at
# 9-23 ms against 27-40 ms with "low" (bench/login.py, 2 cores), but it lets any other work
# outrun the hashes: with the edge, the database, the load generator and the refusals busy, the
# hashes got 0.24 of a core and logins fell to 8.4/s at 32 clients (issue 19). On a host shared
# with other busy processes "idle" can stop logins altogether; it suits a host identity has to
# itself, when the p99 of other calls matters more than logins under overload.
HASH_PRIORITIES = ("low", "idle")  # the first is the default
# Calls that may wait for a hash thread, per process (IDENTITY_HASH_QUEUE). A waiting call holds
# no hash memory, only its task. 64 concurrent logins per worker must wait their turn rather than
# be refused (issue 19), but the kernel gives each of the edge's connections to one worker
# (SO_REUSEPORT hashing), so the workers' shares are seldom even: with 4 connections to 2 workers
# a 3:1 split is the likeliest. Twice 64 keeps 64 per worker, on average, from a refusal whatever
# the split. (A bound on the expected wait, under the edge's deadline, was tried and taken out:
# measured from the hashes' wall time it fed on itself, bench/findings.md "Login overload".)
DEFAULT_HASH_QUEUE = 128


@dataclass(frozen=True)
class Argon2Params:
    memory_kib: int = MIN_MEMORY_KIB
    time_cost: int = MIN_TIME_COST
    parallelism: int = MIN_PARALLELISM

    def __post_init__(self) -> None:
        if (
            self.memory_kib < MIN_MEMORY_KIB
            or self.time_cost < MIN_TIME_COST
            or self.parallelism < MIN_PARALLELISM
        ):
            raise ValueError(
                "Argon2 parameters below OWASP's minimum "
                f"(m={MIN_MEMORY_KIB} KiB, t={MIN_TIME_COST}, p={MIN_PARALLELISM})"
            )
