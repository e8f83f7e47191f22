"""A real SMTP server for the tests (aiosmtpd, in this process on a free port) that keeps what
it receives, and helpers to find a mail and the link in it. Every link token seen is
registered for the run-wide log-leak check."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from identity.domain.smtp_url import SmtpUrl
from tests.conftest import remember

# aiosmtpd logs the whole SMTP conversation at DEBUG, mail bodies (and links) included: that is
# the test server's own log, not identity's, and stays out of the run-wide capture.
logging.getLogger("mail.log").setLevel(logging.WARNING)

LINK = re.compile(
    r"(https?://[^\s\"<>]+/#/(reset-password|verify-email|confirm-email)\?token=([A-Za-z0-9_-]+))"
)


@dataclass(frozen=True)
class Caught:
    to: str
    subject: str
    text: str
    html: str
    raw: bytes

    def links(self) -> list[tuple[str, str, str]]:
        """(url, route, token) of every link in the text body."""
        return LINK.findall(self.text)

    def link(self) -> tuple[str, str]:
        """The one link (route, token); fails unless there is exactly one."""
        found = self.links()
        assert len(found) == 1, f"expected one link, got {len(found)}"
        html_links = {m[0] for m in LINK.findall(self.html.replace("&amp;", "&"))}
        assert html_links <= {found[0][0]}, "the HTML part links elsewhere"
        return found[0][1], found[0][2]


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self._catcher = catcher

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        for to in envelope.rcpt_tos:
            caught = Caught(
                to=to.lower(),
                subject=str(message["subject"]),
                text=text.get_content() if text is not None else "",
                html=html.get_content() if html is not None else "",
                raw=envelope.content,
            )
            for url, _route, token in caught.links():
                remember(url, token)
            self._catcher.add(caught)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailCatcher:
    """start()/stop() may be called again: the same port, as an SMTP server coming back."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._mails: list[Caught] = []
        self._controller: Controller | None = None

    @property
    def url(self) -> SmtpUrl:
        return SmtpUrl.parse(f"smtp://127.0.0.1:{self.port}")

    def start(self) -> MailCatcher:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def add(self, caught: Caught) -> None:
        with self._lock:
            self._mails.append(caught)

    def to(self, address: str) -> list[Caught]:
        with self._lock:
            return [m for m in self._mails if m.to == address.lower()]

    async def wait(
        self, address: str, subject: str, timeout: float = 10.0, after: int = 0
    ) -> Caught:
        """The first mail to `address` (past the first `after` ones) whose subject contains
        `subject`."""
        deadline = time.monotonic() + timeout
        while True:
            for mail in self.to(address)[after:]:
                if subject.lower() in mail.subject.lower():
                    return mail
            if time.monotonic() > deadline:
                seen = [m.subject for m in self.to(address)]
                raise AssertionError(f"no mail {subject!r} to {address} in {timeout}s: {seen}")
            await asyncio.sleep(0.05)

    async def none_for(self, address: str, seconds: float = 1.5) -> None:
        await asyncio.sleep(seconds)
        assert self.to(address) == [], [m.subject for m in self.to(address)]
