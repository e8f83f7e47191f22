"""Posting mail into the outbox, inside the caller's unit of work (the transactional outbox).

A mail is rendered, sealed (AES-256-GCM under the master key, bound to its row id) and written
in the same transaction as whatever caused it, so it is sent if and only if that commits. A link
mail also writes the link token's digest; the token itself exists only in the sealed body.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

from identity.domain.links import LinkLifetimes, LinkPurpose, link_url, new_link
from identity.domain.mail import Mail, MailKind
from identity.domain.master_key import MasterKey
from identity.ports import OutboxEntry, UnitOfWork
from identity.services.mail_templates import MailTemplates

# What each link purpose mails.
LINK_MAIL = {
    LinkPurpose.RESET_PASSWORD: MailKind.RESET_PASSWORD,
    LinkPurpose.VERIFY_EMAIL: MailKind.VERIFY_EMAIL,
    LinkPurpose.CONFIRM_EMAIL: MailKind.CONFIRM_EMAIL,
}


class Mailer:
    def __init__(
        self,
        templates: MailTemplates,
        master: MasterKey,
        public_url: str,
        lifetimes: LinkLifetimes,
    ) -> None:
        self._templates = templates
        self._master = master
        self._public_url = public_url
        self.lifetimes = lifetimes
        # Set after a commit that posted mail: this replica's sender wakes at once.
        self.wake = asyncio.Event()

    async def post(
        self, uow: UnitOfWork, kind: MailKind, to: str, now: datetime, **context: Any
    ) -> None:
        mail = self._templates.render(kind, to, **context)
        mail_id = str(uuid.uuid4())
        await uow.outbox.add(mail_id, kind.value, to, self._seal(mail_id, mail), now)

    async def post_link(
        self, uow: UnitOfWork, purpose: LinkPurpose, user_id: str, to: str, now: datetime
    ) -> None:
        """A new link token for `purpose` (voiding the user's older ones) mailed to `to`."""
        link = new_link(purpose, now, self.lifetimes)
        await uow.links.add(link, user_id, to, now)
        ttl = self.lifetimes.of(purpose).total_seconds()
        await self.post(
            uow,
            LINK_MAIL[purpose],
            to,
            now,
            link=link_url(self._public_url, link),
            minutes=int(ttl // 60),
            hours=int(ttl // 3600),
        )

    def posted(self) -> None:
        """Call after the commit that posted mail."""
        self.wake.set()

    def _seal(self, mail_id: str, mail: Mail) -> bytes:
        body = {"subject": mail.subject, "text": mail.text, "html": mail.html}
        return self._master.encrypt(json.dumps(body).encode(), mail_id.encode())

    def opened(self, entry: OutboxEntry) -> Mail:
        """The mail of a claimed entry (its body is there until it is delivered)."""
        assert entry.body_enc is not None
        body = json.loads(self._master.decrypt(entry.body_enc, entry.mail_id.encode()))
        return Mail(
            MailKind(entry.kind), entry.recipient, body["subject"], body["text"], body["html"]
        )
