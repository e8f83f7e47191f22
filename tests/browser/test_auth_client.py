"""auth-client.js and the demo page in Chromium: storage, silent refresh, single flight, tabs."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from playwright.async_api import BrowserContext, Page, expect

from identity.app import IdentityApp
from tests.browser.conftest import shifted_verifier
from tests.conftest import PASSWORD, remember
from tests.edge.support import running_edge

pytestmark = pytest.mark.browser

COOKIE = "__Secure-refresh_token"
HINT = "refresh_hint"
# The access token lifetime plus identity's leeway, and a little more.
PAST_EXPIRY = 600 + 30 + 5


async def open_page(context: BrowserContext, url: str) -> Page:
    page = await context.new_page()
    await page.goto(url)
    await expect(page.locator("#status")).not_to_have_text("Checking session…")
    return page


async def sign_up(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.click("#tab-register")
    await page.fill("#register-form input[name=email]", email)
    await page.fill("#register-form input[name=password]", password)
    await page.click("#register-form button[type=submit]")
    await expect(page.locator("#status")).to_have_text("Signed in")


def count_requests(page: Page, path: str) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.url.endswith(path) else None)
    return seen


async def api_statuses(page: Page, calls: int, path: str = "/api/me") -> list[int]:
    return await page.evaluate(
        """async ([calls, path]) => {
            const { auth } = await import("/app.js");
            const answers = await Promise.all(
                Array.from({ length: calls }, () => auth.fetch(path)));
            return answers.map((r) => r.status);
        }""",
        [calls, path],
    )


async def test_login_keeps_every_token_out_of_page_storage(context, site, unique_email):
    page = await open_page(context, site.url)
    await expect(page.locator("#status")).to_have_text("Signed out")
    await sign_up(page, unique_email())
    await expect(page.locator("#whoami dd").first).not_to_be_empty()

    storage = await page.evaluate(
        """async () => ({
            local: localStorage.length,
            session: sessionStorage.length,
            cookie: document.cookie,
            idb: (await indexedDB.databases()).length,
        })"""
    )
    # The one thing a script can see is the refresh hint, which holds no secret.
    assert storage == {"local": 0, "session": 0, "cookie": f"{HINT}=1", "idb": 0}
    cookie, hint = sorted(await context.cookies(), key=lambda c: c["name"] != COOKIE)
    remember(cookie["value"])
    assert (hint["name"], hint["value"], hint["path"]) == (HINT, "1", "/")
    assert not hint["httpOnly"] and hint["secure"] and hint["sameSite"] == "Strict"
    assert hint["expires"] == pytest.approx(cookie["expires"], abs=2)
    assert cookie["name"] == COOKIE
    assert cookie["httpOnly"] and cookie["secure"]
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/auth"
    assert cookie["domain"] == "127.0.0.1"


async def test_the_cookie_goes_to_auth_paths_only(context, site, unique_email):
    page = await open_page(context, site.url)
    await sign_up(page, unique_email())
    sent: dict[str, str | None] = {}

    async def record(request):
        headers = await request.all_headers()
        sent[request.url.removeprefix(site.url)] = headers.get("cookie")

    page.on("request", record)
    await page.reload()
    await expect(page.locator("#status")).to_have_text("Signed in")
    await expect(page.locator("#sessions li").first).to_be_visible()
    assert sent["/auth/refresh"] and COOKIE in sent["/auth/refresh"]
    # Only the hint goes everywhere.
    assert sent["/"] == f"{HINT}=1"
    assert sent["/api/me"] == f"{HINT}=1"


async def test_reload_keeps_the_session_by_a_silent_refresh(context, site, unique_email):
    page = await open_page(context, site.url)
    await sign_up(page, unique_email())
    sub = await page.locator("#whoami dd").first.text_content()
    refreshes = count_requests(page, "/auth/refresh")
    await page.reload()
    await expect(page.locator("#status")).to_have_text("Signed in")
    await expect(page.locator("#whoami dd").first).to_have_text(sub or "")
    assert len(refreshes) == 1


async def test_after_expiry_ten_parallel_calls_share_one_refresh(
    context, site, clock, unique_email
):
    page = await open_page(context, site.url)
    await sign_up(page, unique_email())
    refreshes = count_requests(page, "/auth/refresh")
    clock.advance(PAST_EXPIRY)  # the access token in the page is now expired for the server
    statuses = await api_statuses(page, 10)
    assert statuses == [200] * 10
    assert len(refreshes) == 1
    # The same holds for an endpoint identity checks online.
    clock.advance(PAST_EXPIRY)
    assert await api_statuses(page, 10, "/auth/sessions") == [200] * 10
    assert len(refreshes) == 2


async def test_two_tabs_refreshing_at_once_both_stay_signed_in(context, site, clock, unique_email):
    first = await open_page(context, site.url)
    await sign_up(first, unique_email())
    second = await open_page(context, site.url)
    await expect(second.locator("#status")).to_have_text("Signed in")
    refreshes: list[str] = []
    context.on("request", lambda r: refreshes.append(r.url) if r.url.endswith("/refresh") else None)

    # Both tabs find their access token expired at the same moment and refresh together:
    # the second tab to get the cookie lock adopts the first one's answer.
    clock.advance(PAST_EXPIRY)
    results = await asyncio.gather(api_statuses(first, 5), api_statuses(second, 5))
    assert results == [[200] * 5, [200] * 5]
    assert len(refreshes) == 1
    # Both reload at once: two silent refreshes racing for the one cookie.
    refreshes.clear()
    await asyncio.gather(first.reload(), second.reload())
    for page in (first, second):
        await expect(page.locator("#status")).to_have_text("Signed in")
        assert await api_statuses(page, 1) == [200]
    # One when a page starts while the other still waits for the lock; two when it starts
    # after the other's broadcast went out (a page that did not exist yet cannot receive it).
    assert 1 <= len(refreshes) <= 2
    # The cookie jar ends with the one live refresh token.
    third = await open_page(context, site.url)
    await expect(third.locator("#status")).to_have_text("Signed in")


async def test_tabs_without_web_locks_or_broadcast_channel_still_work(
    context, site, clock, unique_email
):
    await context.add_init_script(
        "delete Navigator.prototype.locks; delete window.BroadcastChannel;"
    )
    first = await open_page(context, site.url)
    assert await first.evaluate("navigator.locks === undefined && !window.BroadcastChannel")
    await sign_up(first, unique_email())
    second = await open_page(context, site.url)
    await expect(second.locator("#status")).to_have_text("Signed in")
    clock.advance(PAST_EXPIRY)
    # Without the lock both tabs refresh at once; the grace window gives both the same successor.
    results = await asyncio.gather(api_statuses(first, 3), api_statuses(second, 3))
    assert results == [[200] * 3, [200] * 3]
    await second.reload()
    await expect(second.locator("#status")).to_have_text("Signed in")


async def test_logout_in_one_tab_signs_out_the_other_within_a_second(context, site, unique_email):
    first = await open_page(context, site.url)
    await sign_up(first, unique_email())
    second = await open_page(context, site.url)
    await expect(second.locator("#status")).to_have_text("Signed in")
    await first.click("#logout")
    await expect(first.locator("#status")).to_have_text("Signed out")
    await expect(second.locator("#status")).to_have_text("Signed out", timeout=1000)
    assert await context.cookies() == []
    await second.reload()
    await expect(second.locator("#status")).to_have_text("Signed out")


async def test_login_in_one_tab_signs_in_the_other(context, site, unique_email):
    first = await open_page(context, site.url)
    second = await open_page(context, site.url)
    await expect(second.locator("#status")).to_have_text("Signed out")
    await sign_up(first, unique_email())
    await expect(second.locator("#status")).to_have_text("Signed in", timeout=1000)
    assert await api_statuses(second, 1) == [200]


async def test_refresh_is_proactive_and_timed_from_expires_in(context, site, unique_email):
    page = await context.new_page()
    await page.clock.install()
    await page.goto(site.url)
    await expect(page.locator("#status")).to_have_text("Signed out")
    await sign_up(page, unique_email())
    refreshes = count_requests(page, "/auth/refresh")

    # A wrong wall clock means nothing: expiry is timed from expires_in on the monotonic clock.
    await page.clock.set_system_time(await page.evaluate("Date.now()") + 86_400_000)
    assert await api_statuses(page, 1) == [200]
    assert refreshes == []

    # expires_in is 600 s: the refresh comes a minute early, less up to 10 s of jitter.
    await page.clock.run_for(520_000)
    assert refreshes == []
    async with page.expect_response(lambda r: r.url.endswith("/auth/refresh")) as answer:
        await page.clock.run_for(25_000)
    assert (await answer.value).status == 200
    assert len(refreshes) == 1
    assert await api_statuses(page, 1) == [200]


async def test_a_hostile_user_agent_in_the_session_list_is_text(browser, site, unique_email):
    """Checklist IN-10: the session list shows each session's user agent, which any client
    chooses; markup in it must render as text, never run."""
    hostile = '<img src=x onerror="window.__pwned = 1">Evil/1.0 <b>bold</b>'
    context = await browser.new_context(user_agent=hostile, viewport={"width": 1280, "height": 860})
    try:
        page = await open_page(context, site.url)
        await sign_up(page, unique_email())
        sessions = page.locator("#sessions")
        await expect(sessions).to_contain_text(hostile)  # the characters, as written
        assert await sessions.locator("img").count() == 0
        assert await sessions.locator("b").count() == 0
        assert await page.evaluate("window.__pwned") is None
    finally:
        await context.close()


async def test_a_restart_of_identity_is_retried_transparently(
    context, start_identity, clock, unique_email
):
    """Issue 22: while identity restarts the edge answers 503 with Retry-After; the client sends
    the call again after that delay, so a page (re)loaded meanwhile still ends signed in."""
    identity = await start_identity("sqlite", clock=clock)
    verifier = shifted_verifier(identity, clock)
    async with running_edge(identity, verifier=verifier, EDGE_TRUSTED_PROXIES="") as site:
        page = await open_page(context, site.url)
        await sign_up(page, unique_email())
        statuses: list[int] = []
        page.on("response", lambda r: statuses.append(r.status) if "/auth/refresh" in r.url else 0)
        await identity.app.stop(grace=0)
        await page.reload()  # its silent refresh meets the 503s
        async with asyncio.timeout(10):
            while 503 not in statuses:
                await asyncio.sleep(0.05)
        restarted = IdentityApp(
            replace(identity.app.settings, grpc_listen=identity.target), clock=identity.app.clock
        )
        await restarted.start()
        try:
            await expect(page.locator("#status")).to_have_text("Signed in", timeout=10_000)
            assert statuses[0] == 503 and statuses[-1] == 200, statuses
            assert set(statuses) == {503, 200}, statuses
        finally:
            await restarted.stop(grace=0)


async def test_a_signed_out_load_sends_no_refresh_and_logs_no_error(context, site):
    """Without the hint cookie there is no refresh cookie: the page asks nothing that must fail."""
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    refreshes = count_requests(page, "/auth/refresh")
    await page.goto(site.url)
    await expect(page.locator("#status")).to_have_text("Signed out")
    # "Signed out" shows once the silent refresh, if one was sent, has been answered.
    assert (refreshes, errors) == ([], [])
