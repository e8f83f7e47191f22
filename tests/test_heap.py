"""The servers' start-up heap freeze: start-up objects leave the collector's walk, and garbage
made afterwards is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from identity.heap import freeze_startup_objects


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
