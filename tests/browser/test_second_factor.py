"""Issue 20 in Chromium: enrol by reading the secret from the demo page, sign in with a computed
code, step up before the sensitive action and before new recovery codes; recovery codes are
shown once. Codes come from `pyotp` at the clock identity and the edge's verifier share, which
the test moves: to the next TOTP step (a code never works twice) and past the five minutes a
step-up stays recent."""

from __future__ import annotations

import pyotp
import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from tests.browser.conftest import ShiftedClock
from tests.browser.test_auth_client import open_page, sign_up
from tests.conftest import PASSWORD, remember

pytestmark = pytest.mark.browser

STEP = 30
STEP_UP_MAX_AGE = 300


def watch_errors(page: Page) -> list[str]:
    """Console errors (a CSP violation is one) and uncaught exceptions of the page; not the
    4xx answers the flow expects (a wrong code, the step-up challenge), which Chromium logs too."""
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


async def enrol(page: Page, clock: ShiftedClock) -> tuple[pyotp.TOTP, list[str]]:
    """Turns TOTP on through the card; returns the authenticator and the recovery codes shown."""
    await expect(page.locator("#mfa-state")).to_have_text("Off")
    await page.fill("#totp-enroll-form input[name=password]", PASSWORD)
    await page.click("#totp-enroll-form button[type=submit]")
    secret_box = page.locator("#totp-secret")
    await expect(secret_box).to_be_visible()
    secret = (await secret_box.text_content() or "").strip()
    remember(secret)
    # The QR code, an SVG from the server, rendered as an image under the page's strict CSP.
    qr = page.locator("#totp-qr")
    await expect(qr).to_be_visible()
    assert await qr.evaluate("img => img.complete && img.naturalWidth > 0")
    assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    totp = pyotp.TOTP(secret)
    await page.fill("#totp-confirm-form input[name=code]", totp.at(clock.now()))
    await page.click("#totp-confirm-form button[type=submit]")
    codes = page.locator("#recovery-codes li")
    await expect(codes).to_have_count(10)
    recovery = [text.strip() for text in await codes.all_text_contents()]
    remember(*recovery)
    await expect(page.locator("#mfa-state")).to_have_text("On")
    clock.advance(STEP)  # the code just used is dead for good: the next one is a later step
    return totp, recovery


async def step_up_in_dialog(page: Page, clock: ShiftedClock, totp: pyotp.TOTP) -> None:
    dialog = page.locator("#step-up-dialog")
    await expect(dialog).to_be_visible()
    await page.fill("#step-up-form input[name=code]", "000000")
    await page.click("#step-up-form button[type=submit]")
    await expect(page.locator("#step-up-message")).to_have_text("That code did not work.")
    await page.fill("#step-up-form input[name=code]", totp.at(clock.now()))
    await page.click("#step-up-form button[type=submit]")
    await expect(dialog).to_be_hidden()


async def test_enrol_sign_in_with_a_code_and_step_up_before_a_sensitive_action(
    context, site, clock: ShiftedClock, unique_email
):
    page = await open_page(context, site.url)
    errors = watch_errors(page)
    email = unique_email()
    await sign_up(page, email)
    totp, recovery = await enrol(page, clock)

    # Shown once: "I have saved them" takes them off the page, and a reload never brings them.
    await page.click("#recovery-done")
    await expect(page.locator("#recovery-panel")).to_be_hidden()
    await expect(page.locator("#recovery-codes li")).to_have_count(0)
    await page.reload()
    await expect(page.locator("#status")).to_have_text("Signed in")
    await expect(page.locator("#mfa-summary")).to_contain_text("10 recovery code(s) left")
    await expect(page.locator("#recovery-panel")).to_be_hidden()
    assert recovery[0] not in await page.content()

    # Sign out, then in: the password alone is not enough.
    await page.click("#logout")
    await expect(page.locator("#status")).to_have_text("Signed out")
    await page.fill("#login-form input[name=email]", email)
    await page.fill("#login-form input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-code-form")).to_be_visible()
    await expect(page.locator("#status")).to_have_text("Signed out")
    await page.fill("#login-code-form input[name=code]", totp.at(clock.now()))
    await page.click("#login-code-form button[type=submit]")
    await expect(page.locator("#status")).to_have_text("Signed in")
    await expect(page.locator("#whoami")).to_contain_text("aal2")

    # Five minutes on, the sensitive resource wants the factor again: the page asks, steps up
    # and retries, in one click.
    clock.advance(STEP_UP_MAX_AGE + 1)
    await page.click("#sensitive-action")
    await step_up_in_dialog(page, clock, totp)
    await expect(page.locator("#sensitive-result")).to_contain_text("Access granted: aal2")
    clock.advance(STEP)

    # New recovery codes need a recent step-up too (403 step_up_required, then the dialog).
    clock.advance(STEP_UP_MAX_AGE + 1)
    await page.click("#recovery-regenerate")
    await step_up_in_dialog(page, clock, totp)
    fresh = page.locator("#recovery-codes li")
    await expect(fresh).to_have_count(10)
    remember(*[text.strip() for text in await fresh.all_text_contents()])
    assert recovery[0] not in await fresh.all_text_contents()
    assert errors == []


async def test_sign_in_with_a_recovery_code_and_turn_the_factor_off(
    context, site, clock: ShiftedClock, unique_email
):
    page = await open_page(context, site.url)
    errors = watch_errors(page)
    email = unique_email()
    await sign_up(page, email)
    totp, recovery = await enrol(page, clock)
    await page.click("#recovery-done")
    await page.click("#logout")
    await expect(page.locator("#status")).to_have_text("Signed out")
    await page.fill("#login-form input[name=email]", email)
    await page.fill("#login-form input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.fill("#login-code-form input[name=code]", "000000")
    await page.click("#login-code-form button[type=submit]")
    await expect(page.locator("#auth-message")).to_contain_text("That code did not work")
    await page.fill("#login-code-form input[name=code]", recovery[3].upper())
    await page.click("#login-code-form button[type=submit]")
    await expect(page.locator("#status")).to_have_text("Signed in")
    await expect(page.locator("#mfa-summary")).to_contain_text("9 recovery code(s) left")

    # Just signed in with the factor: recent enough to turn it off without a prompt.
    await page.click("#totp-disable")
    await expect(page.locator("#mfa-state")).to_have_text("Off")
    await expect(page.locator("#step-up-dialog")).to_be_hidden()
    await expect(page.locator("#totp-enroll-form")).to_be_visible()
    assert errors == []
