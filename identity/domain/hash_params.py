"""Argon2id parameters: OWASP's floors, and the CPU priorities the hash threads may run at."""

from __future__ import annotations

from dataclasses import dataclass

# OWASP Password Storage Cheat Sheet: Argon2id, m=19456 KiB (19 MiB), t=2, p=1 at the least.
MIN_MEMORY_KIB = 19456
MIN_TIME_COST = 2
MIN_PARALLELISM = 1
# Hash threads never make the event loop thread (Introspect, refreshes, the rest of each login)
# wait for a core. "idle" (the default) runs them under SCHED_IDLE: the kernel gives them only
# CPU no other thread wants, and preempts them the moment one does. Measured in the login storm
# of bench/login.py on 2 cores: the introspection p99 during the storm 9-23 ms against 27-40 ms
# with nice +10 alone, at the same login rate. The price: if other work keeps every core busy
# (an overloaded event loop, a busy neighbour process), logins get next to no CPU; the bounded
# queue of the hash pool then sheds them with Overloaded. "low" (nice +10 only) keeps logins
# moving at about a tenth of a contended core instead, for hosts shared with other busy processes.
HASH_PRIORITIES = ("idle", "low")  # the first is the default


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
