"""The Argon2 pool's threads run at a lower CPU priority than the event loop thread, so that a
login storm does not make the loop (Introspect, refreshes) wait for a core behind the hashes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from identity.config import Settings
from identity.domain.errors import ConfigurationError
from identity.domain.hash_params import Argon2Params
from identity.services.hashing import HASH_THREAD_NICENESS, PasswordHashing
from tests.conftest import TEST_MASTER_KEY


def threads() -> dict[int, tuple[int, int]]:
    """tid → (nice value, scheduling policy); nice is field 19 of each task's stat."""
    values = {}
    for task in Path("/proc/self/task").iterdir():
        tid = int(task.name)
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
            values[tid] = (int(fields[16]), os.sched_getscheduler(tid))
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile (an earlier test's pool shutting down)
    return values


async def hash_threads(**kwargs: str) -> set[tuple[int, int]]:
    before = threads()
    hashing = PasswordHashing(Argon2Params(), workers=2, **kwargs)
    try:
        await hashing.verify(await hashing.hash("correct horse"), "correct horse")
        new = {t: v for t, v in threads().items() if t not in before}
    finally:
        hashing.close()
    assert new, "the pool started no thread"
    return set(new.values())


@pytest.mark.parametrize(
    ("kwargs", "policy"),
    [
        ({}, os.SCHED_OTHER),
        ({"priority": "low"}, os.SCHED_OTHER),
        ({"priority": "idle"}, os.SCHED_IDLE),
    ],
)
async def test_hash_threads_yield_to_the_event_loop_thread(kwargs, policy):
    loop_nice = os.getpriority(os.PRIO_PROCESS, 0)
    loop_policy = os.sched_getscheduler(0)
    expected_nice = min(19, loop_nice + HASH_THREAD_NICENESS)
    assert await hash_threads(**kwargs) == {(expected_nice, policy)}
    # The caller's thread is unchanged.
    assert (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)) == (
        loop_nice,
        loop_policy,
    )


def test_the_priority_setting_takes_only_known_values():
    env = {
        "IDENTITY_DATABASE_URL": "sqlite+aiosqlite:///x.db",
        "IDENTITY_MASTER_KEY": TEST_MASTER_KEY,
    }
    # "low" by default: under SCHED_IDLE any other busy thread starves the hashes (issue 19).
    assert Settings.from_env(env).hash_priority == "low"
    assert Settings.from_env({**env, "IDENTITY_HASH_PRIORITY": "IDLE"}).hash_priority == "idle"
    with pytest.raises(ConfigurationError, match="IDENTITY_HASH_PRIORITY: one of low, idle"):
        Settings.from_env({**env, "IDENTITY_HASH_PRIORITY": "realtime"})
