"""The Argon2 pool's threads run at a lower CPU priority than the event loop thread, so that a
login storm does not make the loop (Introspect, refreshes) wait for a core behind the hashes."""

from __future__ import annotations

import os
from pathlib import Path

from identity.services.hashing import HASH_THREAD_NICENESS, Argon2Params, PasswordHashing


def niceness_of_threads() -> dict[int, int]:
    """tid → nice value, from /proc (field 19 of each task's stat, after the command name)."""
    values = {}
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rpartition(")")[2].split()
        values[int(task.name)] = int(fields[16])
    return values


async def test_hash_threads_are_nicer_than_the_event_loop_thread():
    before = niceness_of_threads()
    loop_nice = os.getpriority(os.PRIO_PROCESS, 0)
    hashing = PasswordHashing(Argon2Params(), workers=2)
    try:
        await hashing.verify(await hashing.hash("correct horse"), "correct horse")
        new_threads = {t: n for t, n in niceness_of_threads().items() if t not in before}
    finally:
        hashing.close()
    assert new_threads, "the pool started no thread"
    expected = min(19, loop_nice + HASH_THREAD_NICENESS)
    assert set(new_threads.values()) == {expected}
    assert os.getpriority(os.PRIO_PROCESS, 0) == loop_nice  # the caller's thread is unchanged
