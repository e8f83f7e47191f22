"""identity.mail_catcher: the in-memory SMTP server of `identity dev` and the conformance kit,
driven by the outbox's own client (aiosmtplib) over a real socket."""

from __future__ import annotations

import logging
from email.message import EmailMessage

import aiosmtplib
import pytest

from identity.domain.links import LinkPurpose, find_links
from identity.mail_catcher import SMTP_LOG, MailCatcher


def _message(to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "identity@example.com"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    message.add_alternative(f"<p>{subject}</p>", subtype="html")
    return message


async def _send(catcher: MailCatcher, message: EmailMessage) -> None:
    await aiosmtplib.send(message, hostname=catcher.host, port=catcher.port, timeout=5)


async def test_the_catcher_keeps_the_newest_mails_only_and_finds_their_links() -> None:
    catcher = await MailCatcher(keep=3).start()
    try:
        assert catcher.port != 0 and str(catcher.url) == f"smtp://127.0.0.1:{catcher.port}"
        for n in range(5):
            token = f"idev_{'A' * 42}{n}"
            link = f"http://127.0.0.1:8080/#/verify-email?token={token}"
            await _send(catcher, _message(f"User{n}@Example.com", f"mail {n}", f"open {link}\n"))
        mails = catcher.mails()
        assert [m.subject for m in mails] == ["mail 4", "mail 3", "mail 2"]  # newest first
        assert [m.number for m in mails] == [5, 4, 3]
        assert mails[0].to == "user4@example.com" and mails[0].html.strip() == "<p>mail 4</p>"
        [found] = mails[0].links()
        assert found.purpose is LinkPurpose.VERIFY_EMAIL and found.token.endswith("4")
        assert found.token not in repr(found) and found.token not in repr(mails[0])
        waited = await catcher.wait_for_link("user3@example.com", LinkPurpose.VERIFY_EMAIL)
        assert waited.token.endswith("3")
        with pytest.raises(TimeoutError):
            await catcher.wait_for_link("user3@example.com", LinkPurpose.VERIFY_EMAIL, 5, 0.2)
    finally:
        await catcher.stop()


async def test_the_catcher_logs_no_address(caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger(SMTP_LOG).setLevel(logging.DEBUG)  # as a process that set nothing
    catcher = await MailCatcher().start()
    try:
        with caplog.at_level(logging.DEBUG):
            await _send(catcher, _message("secret.person@example.com", "hello", "hi"))
    finally:
        await catcher.stop()
    assert catcher.to("secret.person@example.com")
    assert "secret.person" not in caplog.text


def test_find_links_reads_the_three_routes_and_nothing_else() -> None:
    token = "idpr_" + "b" * 43
    text = (
        f"https://auth.example.com/app/#/reset-password?token={token}\n"
        "https://auth.example.com/#/confirm-email?token=idev_x "
        "https://evil.example/#/elsewhere?token=idev_y"
    )
    found = find_links(text)
    assert [(f.purpose, f.token) for f in found] == [
        (LinkPurpose.RESET_PASSWORD, token),
        (LinkPurpose.CONFIRM_EMAIL, "idev_x"),
    ]
    assert found[0].url == f"https://auth.example.com/app/#/reset-password?token={token}"
