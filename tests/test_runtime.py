"""How the server processes run: on uvloop; start-up objects out of the collector's walk, and
garbage made afterwards still collected."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from identity import runtime
from identity.runtime import freeze_startup_objects


@pytest.fixture
def frozen() -> Iterator[None]:
    freeze_startup_objects()
    try:
        yield
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual


class Node:
    def __init__(self) -> None:
        self.peer: Node | None = None


def test_startup_objects_are_frozen(frozen: None) -> None:
    # Everything imported so far (pytest, identity, SQLAlchemy, gRPC) is out of the walk.
    assert gc.get_freeze_count() > 10_000
    assert gc.isenabled()


def test_cycles_made_after_the_freeze_are_still_collected(frozen: None) -> None:
    a, b = Node(), Node()
    a.peer, b.peer = b, a
    collected: list[str] = []
    weakref.finalize(a, collected.append, "a")
    del a, b
    gc.collect()
    assert collected == ["a"]


def test_servers_run_on_uvloop():
    async def main() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    assert runtime.run(main()).startswith("uvloop")
