"""A local SMTP server that keeps the mail it receives in memory: `identity dev`'s inbox and the
conformance kit's `--smtp-capture`.

It runs aiosmtpd's protocol in the caller's own event loop (no thread), accepts any sender and
recipient, and keeps only the newest `keep` mails, so a long dev session cannot grow it without
bound. Nothing here is meant for a deployment: it listens without TLS or authentication.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP

from identity.domain.links import FoundLink, LinkPurpose, find_links
from identity.domain.smtp_url import SmtpUrl

# aiosmtpd's logger: it logs every sender and recipient address at INFO (and the conversation at
# DEBUG); addresses are personal data and the bodies carry link tokens. Quieted on every start.
SMTP_LOG = "mail.log"

KEEP = 50
# Our mails are a few kilobytes; a bigger one is refused rather than held in memory.
MAX_MAIL_BYTES = 1_000_000


@dataclass(frozen=True)
class CaughtMail:
    number: int
    received_at: datetime
    to: str
    subject: str
    text: str = field(repr=False)
    html: str = field(repr=False)

    def links(self) -> list[FoundLink]:
        return find_links(self.text)


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self._catcher = catcher

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if not isinstance(message, EmailMessage):
            return "554 not a mail message"
        text, html = message.get_body(("plain",)), message.get_body(("html",))
        for to in envelope.rcpt_tos:
            self._catcher.add(
                to=str(to).lower(),
                subject=str(message["subject"] or ""),
                text=text.get_content() if isinstance(text, EmailMessage) else "",
                html=html.get_content() if isinstance(html, EmailMessage) else "",
            )
        return "250 OK"


class MailCatcher:
    """`await start()` listens on `host:port` (0: any free port); `url` is where to send."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, keep: int = KEEP) -> None:
        self.host = host
        self.port = port
        self._mails: deque[CaughtMail] = deque(maxlen=keep)
        self._numbers = itertools.count(1)
        self._arrived = asyncio.Event()
        self._server: asyncio.Server | None = None

    @property
    def keep(self) -> int:
        """How many mails are kept (the oldest goes when one more arrives)."""
        return self._mails.maxlen or 0

    @property
    def url(self) -> SmtpUrl:
        """Plain `smtp://` without STARTTLS: the catcher listens on loopback only."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return SmtpUrl.parse(f"smtp://{host}:{self.port}")

    async def start(self) -> MailCatcher:
        logging.getLogger(SMTP_LOG).setLevel(logging.WARNING)
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        self._server = await loop.create_server(
            lambda: SMTP(handler, data_size_limit=MAX_MAIL_BYTES, hostname="mail-catcher"),
            self.host,
            self.port,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def add(self, to: str, subject: str, text: str, html: str) -> None:
        received = datetime.now(UTC)
        self._mails.append(CaughtMail(next(self._numbers), received, to, subject, text, html))
        self._arrived.set()

    def mails(self) -> list[CaughtMail]:
        """Newest first."""
        return list(reversed(self._mails))

    def to(self, address: str) -> list[CaughtMail]:
        return [mail for mail in self._mails if mail.to == address.lower()]

    async def wait_for_link(
        self, to: str, purpose: LinkPurpose, after: int = 0, timeout: float = 15.0
    ) -> FoundLink:
        """The link of `purpose` in the first mail to `to` numbered above `after`."""
        deadline = time.monotonic() + timeout
        while True:
            self._arrived.clear()
            for mail in reversed(self.mails()):
                if mail.number > after and mail.to == to.lower():
                    found = [link for link in mail.links() if link.purpose is purpose]
                    if found:
                        return found[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {purpose.route} mail arrived in {timeout:.0f} s")
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass

    @property
    def last_number(self) -> int:
        """The number of the newest mail (0 before any): `after` for the next wait."""
        return self._mails[-1].number if self._mails else 0
