"""Fixtures of the edge tests: one identity (SQLite) for the session, a fresh edge per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from tests.conftest import Running, StartIdentity
from tests.edge.support import Edge, register_and_login, running_edge


@pytest.fixture(scope="session")
async def edge_identity(start_shared_identity: StartIdentity) -> Running:
    return await start_shared_identity("sqlite")


@pytest.fixture
async def edge(edge_identity: Running) -> AsyncIterator[Edge]:
    async with running_edge(edge_identity) as running:
        yield running


@pytest.fixture
async def signed_in(edge: Edge, unique_email: Callable[[], str]) -> tuple[str, str]:
    """(access token, refresh cookie) of a fresh user."""
    return await register_and_login(edge, unique_email())
