"""The demo page in Chromium: what it shows after a sign-out, on a phone-sized screen, and when
the session was ended somewhere else."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Page, expect

from identity.v1 import admin_pb2 as apb
from tests.browser.test_auth_client import open_page, sign_up
from tests.conftest import PASSWORD
from tests.edge.support import CSRF, cookie_header

pytestmark = pytest.mark.browser

SIGNED_OUT_NOTICE = "You were signed out — sign in again."
PHONE = {"width": 390, "height": 844}

# Each visible button and tab whose label takes more than one line, or that sticks out of the
# screen; the page itself must not scroll sideways.
WRAPPED_CONTROLS = """() => {
    const problems = [];
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > width) {
        problems.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
    }
    for (const control of document.querySelectorAll("button, [role=tab]")) {
        const box = control.getBoundingClientRect();
        if (control.closest("[hidden]") || box.width === 0) continue;
        const range = document.createRange();
        range.selectNodeContents(control);
        const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        const name = control.id || control.textContent.trim();
        if (lines.size > 1) problems.push(`${name}: ${lines.size} lines`);
        if (control.scrollWidth > control.clientWidth + 1) problems.push(`${name}: clipped`);
        if (box.left < 0 || box.right > width) problems.push(`${name}: outside the screen`);
    }
    return problems;
}"""


async def signed_in_page(context: BrowserContext, url: str, email: str) -> Page:
    page = await open_page(context, url)
    await sign_up(page, email)
    await expect(page.locator("#sessions li").first).to_be_visible()
    return page


async def test_after_sign_out_the_sign_in_tab_is_selected_and_no_success_toast_stays(
    context, site, unique_email
):
    page = await open_page(context, site.url)
    await sign_up(page, unique_email())
    toast = page.locator("#toast")
    await expect(toast).to_have_text("Account created. You are signed in.")
    await expect(toast).to_be_visible()  # for 4 s, by its own timer
    await page.click("#logout")
    await expect(page.locator("#status")).to_have_text("Signed out")
    await expect(toast).to_be_hidden(timeout=1000)  # at once, well before its timer
    await expect(page.locator("#tab-login")).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#tab-register")).to_have_attribute("aria-selected", "false")
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#register-form")).to_be_hidden()
    # Signing out here is what the user asked for: no "you were signed out" notice.
    await expect(page.locator("#auth-message")).to_have_text("")


async def test_no_button_or_tab_wraps_on_a_390_px_screen(browser, site, unique_email):
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    try:
        page = await open_page(context, site.url)
        assert await page.evaluate(WRAPPED_CONTROLS) == []
        await page.click("#tab-register")
        assert await page.evaluate(WRAPPED_CONTROLS) == []
        email = unique_email()
        await sign_up(page, email)
        # A second session, so the list holds a "Revoke" button beside "Sign out".
        other = await site.client.post(
            "/auth/login",
            json={"email": email, "password": PASSWORD},
            headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/130.0 Mobile"},
        )
        assert other.status_code == 200
        await page.click("#sessions-reload")
        await expect(page.locator("#sessions li button")).to_have_count(2)
        assert await page.evaluate(WRAPPED_CONTROLS) == []
    finally:
        await context.close()


async def test_a_session_revoked_elsewhere_tells_the_tab_it_was_signed_out(
    context, site, browser_identity, unique_email
):
    page = await signed_in_page(context, site.url, unique_email())
    session_id = await page.locator("#whoami dd").nth(1).text_content()
    assert session_id
    await browser_identity.admin_stub.RevokeSession(
        apb.RevokeSessionRequest(session_id=session_id, reason="test: revoked elsewhere"),
        metadata=browser_identity.md("admin"),
    )
    # The next call that identity checks is refused; the page's refresh then fails with the
    # edge's one 401, and the page shows what it knows: it was signed in, and is no more.
    refusals: list[tuple[int, bytes]] = []

    async def record(route):
        answer = await route.fetch()
        refusals.append((answer.status, await answer.body()))
        await route.fulfill(response=answer)

    await page.route("**/auth/refresh", record)
    await page.click("#sessions-reload")
    await expect(page.locator("#status")).to_have_text("Signed out")
    await expect(page.locator("#auth-message")).to_have_text(SIGNED_OUT_NOTICE)
    await expect(page.locator("#tab-login")).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#toast")).to_be_hidden()
    # The same bytes as for a refresh token that never existed: the page is told nothing more.
    never = await site.client.post(
        "/auth/refresh", headers={**CSRF, **cookie_header("idrt_" + "A" * 43)}
    )
    assert refusals == [(401, never.content)] and never.status_code == 401

    # The next sign-in attempt replaces the notice; a page that opens signed out never shows it.
    await page.fill("#login-form input[name=email]", "nobody@example.com")
    await page.fill("#login-form input[name=password]", "not the password at all")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#auth-message")).not_to_have_text(SIGNED_OUT_NOTICE)
    await page.reload()
    await expect(page.locator("#status")).to_have_text("Signed out")
    await expect(page.locator("#auth-message")).to_have_text("")
