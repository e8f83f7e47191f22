"""Debian's Chromium through Playwright, against the real edge and identity.

The browser is never downloaded: Playwright drives /usr/bin/chromium. Identity and the edge's
verifier share one clock that a test can move forward, so "after the access token expired" needs
no ten-minute wait.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright

from identity.verify import GrpcJwksSource, Verifier
from tests.conftest import Running, StartIdentity
from tests.edge.support import Edge, running_edge
from tests.helpers import ShiftedClock

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# The test client's own logs (not the edge's) print what tests send on purpose: httpcore's
# DEBUG wire log whole header blocks, httpx's INFO line full URLs (a token in a query string,
# test_tokens_are_accepted_only_in_the_authorization_header). The run-wide log-leak check must
# see the edge's lines, not these.
logging.getLogger("httpcore").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="session")
async def browser_identity(start_shared_identity: StartIdentity, clock: ShiftedClock) -> Running:
    return await start_shared_identity("sqlite", clock=clock)


def shifted_verifier(identity: Running, clock: ShiftedClock) -> Verifier:
    """The edge's /api/me verifier, on identity's (movable) clock."""
    return Verifier(
        issuer=identity.app.settings.issuer,
        audience=identity.app.settings.audience,
        jwks_source=GrpcJwksSource(identity.target),
        clock=clock,
    )


@pytest.fixture
async def site(browser_identity: Running, clock: ShiftedClock) -> AsyncIterator[Edge]:
    # No X-Forwarded-For trust here: the browser is the client, at 127.0.0.1.
    verifier = shifted_verifier(browser_identity, clock)
    async with running_edge(browser_identity, verifier=verifier, EDGE_TRUSTED_PROXIES="") as edge:
        yield edge


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    created = await browser.new_context(viewport={"width": 1280, "height": 860})
    yield created
    await created.close()
