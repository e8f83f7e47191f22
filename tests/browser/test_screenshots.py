"""Screenshots of the demo page (and a check that it renders as designed).

They go to a temporary directory, so a test run leaves the work tree clean; to refresh the ones
in docs/screenshots/ after a change to the page, run

    IDENTITY_SCREENSHOTS_DIR=docs/screenshots scripts/test tests/browser/test_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.conftest import PASSWORD, remember
from tests.edge.support import CSRF, cookie_header, refresh_cookie, running_edge

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
LAPTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
)


async def other_devices(url: str, email: str) -> None:
    """A phone that is still signed in, and a laptop whose refresh token was replayed."""
    async with httpx.AsyncClient(base_url=url) as client:
        phone = {"User-Agent": PHONE, "X-Forwarded-For": "198.51.100.23"}
        laptop = {"User-Agent": LAPTOP, "X-Forwarded-For": "203.0.113.80"}
        body = {"email": email, "password": PASSWORD}
        assert (await client.post("/auth/login", json=body, headers=phone)).status_code == 200
        stolen = refresh_cookie(await client.post("/auth/login", json=body, headers=laptop))
        successor = refresh_cookie(
            await client.post("/auth/refresh", headers={**CSRF, **cookie_header(stolen), **laptop})
        )
        await client.post("/auth/refresh", headers={**CSRF, **cookie_header(successor), **laptop})
        thief = {"User-Agent": "curl/8.5.0", "X-Forwarded-For": "192.0.2.99"}
        replay = await client.post(
            "/auth/refresh", headers={**CSRF, **cookie_header(stolen), **thief}
        )
        assert replay.status_code == 401


@pytest.fixture(scope="module")
async def fresh_identity(start_shared_identity):
    """On the real clock (the other browser tests move theirs), so "started 1 second ago"."""
    return await start_shared_identity("sqlite")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("IDENTITY_SCREENSHOTS_DIR")
    where = ROOT / chosen if chosen else tmp_path_factory.mktemp("screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_demo_page_screenshots(browser: Browser, fresh_identity, screenshots, scheme):
    async with running_edge(fresh_identity) as edge:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, color_scheme=scheme, device_scale_factor=1
        )
        try:
            page = await context.new_page()
            await page.goto(edge.url)
            await expect(page.locator("#status")).to_have_text("Signed out")
            if scheme == "light":
                await page.screenshot(path=screenshots / "signed-out.png")

            email = f"ada-{scheme}@example.com"
            created = await edge.client.post(
                "/auth/register", json={"email": email, "password": PASSWORD}
            )
            assert created.status_code in (201, 409)
            await other_devices(edge.url, email)
            await page.fill("#login-form input[name=email]", email)
            await page.fill("#login-form input[name=password]", PASSWORD)
            await page.click("#login-form button[type=submit]")
            await expect(page.locator("#status")).to_have_text("Signed in")
            await expect(page.locator("#sessions li")).to_have_count(3)
            await expect(page.locator("#sessions")).to_contain_text("Ended: suspected token theft")
            await expect(page.locator("#sessions")).to_contain_text("Safari on iOS")
            await page.screenshot(path=screenshots / f"dashboard-{scheme}.png", full_page=True)
            # Two-step verification, half way through enrolment: the QR code and the key.
            await page.fill("#totp-enroll-form input[name=password]", PASSWORD)
            await page.click("#totp-enroll-form button[type=submit]")
            qr = page.locator("#totp-qr")
            await expect(qr).to_be_visible()
            assert await qr.evaluate("img => img.complete && img.naturalWidth > 0")
            remember((await page.locator("#totp-secret").text_content()) or "")
            await page.locator("#mfa-card").screenshot(path=screenshots / f"two-step-{scheme}.png")
        finally:
            await context.close()
