"""examples/react-app, built from the packed @identity/browser tarball, in Chromium against the
real edge and identity: Axios calls share one refresh, tabs agree, a signed-out load is quiet,
and nothing but the hint cookie is visible to scripts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, expect
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.browser.conftest import ShiftedClock, shifted_verifier
from tests.client.support import build_react_app
from tests.conftest import PASSWORD, Running, remember
from tests.edge.support import Edge, running_edge

pytestmark = pytest.mark.browser

HINT = "refresh_hint"
# The access token lifetime plus identity's leeway, and a little more.
PAST_EXPIRY = 600 + 30 + 5


@pytest.fixture(scope="session")
async def react_app() -> Path:
    return await asyncio.to_thread(build_react_app)


def serving_app_files(dist: Path):
    """The example's files at /app/ in front of the edge, on one origin (as a reverse proxy or
    the SPA's own host would put them)."""

    def wrap(edge: ASGIApp) -> ASGIApp:
        files = StaticFiles(directory=dist, html=True)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"].startswith("/app/"):
                await files({**scope, "root_path": "/app"}, receive, send)
            else:
                await edge(scope, receive, send)

        return app

    return wrap


@pytest.fixture
async def example(
    browser_identity: Running, clock: ShiftedClock, react_app: Path
) -> AsyncIterator[Edge]:
    verifier = shifted_verifier(browser_identity, clock)
    wrap = serving_app_files(react_app)
    async with running_edge(
        browser_identity, verifier=verifier, wrap=wrap, EDGE_TRUSTED_PROXIES=""
    ) as edge:
        yield edge


async def open_app(context: BrowserContext, edge: Edge) -> Page:
    page = await context.new_page()
    await page.goto(f"{edge.url}/app/")
    await expect(page.locator("#status")).not_to_have_attribute("data-status", "loading")
    return page


async def sign_in(page: Page, edge: Edge, email: str) -> None:
    remember(PASSWORD)
    created = await edge.client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    await page.fill("#sign-in input[name=email]", email)
    await page.fill("#sign-in input[name=password]", PASSWORD)
    await page.click("#sign-in button[type=submit]")
    await expect(page.locator("#status")).to_have_attribute("data-status", "signedIn")


async def axios_statuses(page: Page, calls: int, path: str = "/api/me") -> list[int]:
    """`calls` parallel requests through the app's own Axios instance."""
    return await page.evaluate(
        """async ([calls, path]) => {
            const answers = await Promise.all(
                Array.from({ length: calls }, () => globalThis.example.api.get(path)));
            return answers.map((r) => r.status);
        }""",
        [calls, path],
    )


def requests_to(target: Page | BrowserContext, suffix: str) -> list[str]:
    seen: list[str] = []
    target.on("request", lambda r: seen.append(r.url) if r.url.endswith(suffix) else None)
    return seen


async def test_signs_in_calls_the_api_shows_sessions_and_signs_out(context, example, unique_email):
    page = await open_app(context, example)
    await expect(page.locator("#status")).to_have_attribute("data-status", "signedOut")
    await sign_in(page, example, unique_email())
    await expect(page.locator("#me")).not_to_be_empty()
    await expect(page.locator("#sessions li[data-current=true]")).to_have_count(1)
    await page.click("#sign-out")
    await expect(page.locator("#status")).to_have_attribute("data-status", "signedOut")
    assert await context.cookies() == []


async def test_after_expiry_ten_parallel_axios_calls_cause_one_refresh(
    context, example, clock, unique_email
):
    page = await open_app(context, example)
    await sign_in(page, example, unique_email())
    refreshes = requests_to(page, "/auth/refresh")
    clock.advance(PAST_EXPIRY)  # the page's access token is now expired for the server
    assert await axios_statuses(page, 10) == [200] * 10
    assert len(refreshes) == 1


async def test_two_tabs_refreshing_at_once_stay_signed_in(context, example, clock, unique_email):
    first = await open_app(context, example)
    await sign_in(first, example, unique_email())
    second = await open_app(context, example)
    await expect(second.locator("#status")).to_have_attribute("data-status", "signedIn")
    refreshes = requests_to(context, "/auth/refresh")
    clock.advance(PAST_EXPIRY)
    results = await asyncio.gather(axios_statuses(first, 5), axios_statuses(second, 5))
    assert results == [[200] * 5, [200] * 5]
    assert len(refreshes) == 1  # the second tab adopted the first one's answer
    for page in (first, second):
        await expect(page.locator("#status")).to_have_attribute("data-status", "signedIn")


async def test_logout_in_one_tab_signs_out_the_other_within_a_second(
    context, example, unique_email
):
    first = await open_app(context, example)
    await sign_in(first, example, unique_email())
    second = await open_app(context, example)
    await expect(second.locator("#status")).to_have_attribute("data-status", "signedIn")
    await first.click("#sign-out")
    await expect(second.locator("#status")).to_have_attribute(
        "data-status", "signedOut", timeout=1000
    )


async def test_a_signed_out_load_logs_no_failed_request(context, example):
    page = await context.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    await page.goto(f"{example.url}/app/")
    await page.wait_for_load_state("load")
    # signedOut shows once the silent refresh, if one was sent, has been answered.
    await expect(page.locator("#status")).to_have_attribute("data-status", "signedOut")
    assert problems == []


async def test_scripts_see_nothing_but_the_hint(context, example, unique_email):
    page = await open_app(context, example)
    await sign_in(page, example, unique_email())
    await expect(page.locator("#me")).not_to_be_empty()
    storage = await page.evaluate(
        """async () => ({
            local: localStorage.length,
            session: sessionStorage.length,
            cookie: document.cookie,
            idb: (await indexedDB.databases()).length,
        })"""
    )
    assert storage == {"local": 0, "session": 0, "cookie": f"{HINT}=1", "idb": 0}
