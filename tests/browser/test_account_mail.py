"""The demo page's account lifecycle over email in Chromium: the mail comes from a real SMTP
server (aiosmtpd, tests/mail.py), and the page opens the link from it as a mail client would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from playwright.async_api import BrowserContext, Page, expect

from edge_http.app import create_app
from edge_http.identity_client import IdentityClient
from tests.browser.conftest import ShiftedClock, shifted_verifier
from tests.browser.test_auth_client import open_page, sign_up
from tests.conftest import PASSWORD, Running, StartIdentity, remember
from tests.edge.support import edge_settings, edge_thread, listening_socket
from tests.lifecycle.support import NEW_PASSWORD
from tests.mail import MailCatcher

pytestmark = pytest.mark.browser


@dataclass
class MailingSite:
    url: str
    catcher: MailCatcher


@pytest.fixture(scope="module")
def catcher() -> AsyncIterator[MailCatcher]:
    caught = MailCatcher().start()
    yield caught
    caught.stop()


@pytest.fixture
async def mailing_site(
    start_identity: StartIdentity, catcher: MailCatcher, clock: ShiftedClock
) -> AsyncIterator[MailingSite]:
    """Identity mailing through `catcher`, its links pointing at this edge's demo page."""
    sock = listening_socket()
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    identity: Running = await start_identity(
        "sqlite", clock=clock, smtp_url=catcher.url, public_url=origin
    )
    settings = edge_settings(identity, sock.getsockname()[1], EDGE_TRUSTED_PROXIES="")
    app = create_app(settings, IdentityClient(settings), verifier=shifted_verifier(identity, clock))
    async with edge_thread(sock, settings, app) as url:
        yield MailingSite(url, catcher)


async def link_in_mail(catcher: MailCatcher, email: str, subject: str, after: int = 0) -> str:
    mail = await catcher.wait(email, subject, after=after)
    [(url, _route, _token)] = mail.links()
    return url


async def assert_no_token_in_the_address_bar(page: Page) -> None:
    assert "token" not in page.url
    assert "token" not in await page.evaluate("location.href")


async def test_a_forgotten_password_is_reset_from_the_mailed_link(
    context: BrowserContext, mailing_site: MailingSite, unique_email
):
    email = unique_email()
    page = await open_page(context, mailing_site.url)
    await sign_up(page, email)
    await page.click("#logout")
    await expect(page.locator("#status")).to_have_text("Signed out")

    await page.click("#forgot-open")
    await page.fill("#forgot-form input[name=email]", email)
    await page.click("#forgot-form button[type=submit]")
    await expect(page.locator("#auth-message")).to_have_text(
        "If an account uses that address, a reset link is on its way."
    )
    link = await link_in_mail(mailing_site.catcher, email, "reset your password")

    # The mail client opens the link in a new tab.
    reset = await context.new_page()
    await reset.goto(link)
    await expect(reset.locator("#reset-form")).to_be_visible()
    await expect(reset.locator("#login-form")).to_be_hidden()
    await assert_no_token_in_the_address_bar(reset)
    # A password the policy refuses is told apart, and the link stays usable.
    await reset.fill("#reset-form input[name=password]", "password")
    await reset.click("#reset-form button[type=submit]")
    await expect(reset.locator("#reset-message")).not_to_be_empty()
    await expect(reset.locator("#reset-form")).to_be_visible()
    remember(NEW_PASSWORD)
    await reset.fill("#reset-form input[name=password]", NEW_PASSWORD)
    await reset.click("#reset-form button[type=submit]")
    await expect(reset.locator("#auth-message")).to_have_text(
        "Your password is changed. Sign in with the new one."
    )
    await expect(reset.locator("#status")).to_have_text("Signed out")  # not signed in by it

    for password, outcome in ((PASSWORD, "Signed out"), (NEW_PASSWORD, "Signed in")):
        await reset.fill("#login-form input[name=email]", email)
        await reset.fill("#login-form input[name=password]", password)
        await reset.click("#login-form button[type=submit]")
        if outcome == "Signed out":
            await expect(reset.locator("#auth-message")).not_to_be_empty()
        await expect(reset.locator("#status")).to_have_text(outcome)

    # The link is single use: opened again (signed out), the page says so and offers a new one.
    await reset.click("#logout")
    await expect(reset.locator("#status")).to_have_text("Signed out")
    again = await context.new_page()
    await again.goto(link)
    await again.fill("#reset-form input[name=password]", NEW_PASSWORD + " again")
    await again.click("#reset-form button[type=submit]")
    await expect(again.locator("#auth-message")).to_have_text(
        "That link is invalid or has expired: ask for a new one."
    )
    await expect(again.locator("#forgot-form")).to_be_visible()


async def test_the_verify_banner_goes_once_the_mailed_link_is_opened(
    context: BrowserContext, mailing_site: MailingSite, unique_email
):
    email = unique_email()
    page = await open_page(context, mailing_site.url)
    await sign_up(page, email)
    banner = page.locator("#verify-banner")
    await expect(banner).to_be_visible()
    await link_in_mail(mailing_site.catcher, email, "verify your email")  # the sign-up mail

    await page.click("#verify-resend")
    await expect(page.locator("#toast")).to_have_text("A new link is on its way.")
    link = await link_in_mail(mailing_site.catcher, email, "verify your email", after=1)
    await page.goto(link)  # the same tab: the page follows the address change
    await expect(page.locator("#notice-text")).to_have_text("Your address is verified.")
    await expect(banner).to_be_hidden()
    await assert_no_token_in_the_address_bar(page)
    await page.reload()
    await expect(page.locator("#status")).to_have_text("Signed in")
    await expect(page.locator("#sessions li").first).to_be_visible()
    await expect(banner).to_be_hidden()


async def test_an_email_change_applies_once_the_new_address_opens_its_link(
    context: BrowserContext, mailing_site: MailingSite, unique_email
):
    old, new = unique_email(), unique_email()
    page = await open_page(context, mailing_site.url)
    await sign_up(page, old)
    await page.fill("#email-form input[name=new_email]", new)
    await page.fill("#email-form input[name=password]", PASSWORD)
    await page.click("#email-form button[type=submit]")
    await expect(page.locator("#toast")).to_contain_text(f"We mailed a link to {new}")
    link = await link_in_mail(mailing_site.catcher, new, "confirm")
    await page.click("#logout")
    await expect(page.locator("#status")).to_have_text("Signed out")

    opened = await context.new_page()
    await opened.goto(link)
    await expect(opened.locator("#notice-text")).to_have_text(
        "Your new address is confirmed: sign in with it from now on."
    )
    await assert_no_token_in_the_address_bar(opened)
    await opened.fill("#login-form input[name=email]", new)
    await opened.fill("#login-form input[name=password]", PASSWORD)
    await opened.click("#login-form button[type=submit]")
    await expect(opened.locator("#status")).to_have_text("Signed in")
