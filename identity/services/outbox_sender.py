"""The outbox sender: a loop in every identity process that delivers posted mail over SMTP.

Every replica runs one. Rows are claimed with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL), so
two senders never take the same mail; a sender that dies mid-delivery leaves its rows due again
when the lease ends. Requests only ever write rows: an SMTP outage delays mail, never a request.
A failed delivery is retried after 1 s, 2 s, 4 s … (at most 60 s apart) and given up after
IDENTITY_MAIL_MAX_TRIES tries: logged, counted (identity_mail_failed_total) and listed by the
admin API's ListUndeliveredMail.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib

from identity import metrics
from identity.domain.clock import Clock
from identity.domain.mail import Mail, retry_delay
from identity.domain.smtp_url import SmtpUrl
from identity.ports import OutboxEntry, UnitOfWorkFactory
from identity.services.mailer import Mailer

log = logging.getLogger(__name__)

# Longer than one delivery can take (the SMTP timeout), so a lease never ends mid-delivery.
LEASE = timedelta(seconds=90)
SMTP_TIMEOUT = 30.0
BATCH = 20


class OutboxSender:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        mailer: Mailer,
        smtp: SmtpUrl | None,
        mail_from: str,
        max_tries: int,
        clock: Clock,
        poll_interval: float = 1.0,
    ) -> None:
        self._uow = uow
        self._mailer = mailer
        self._smtp = smtp
        self._from = mail_from
        self._max_tries = max_tries
        self._clock = clock
        self._poll = poll_interval

    async def run(self) -> None:
        if self._smtp is None:
            log.warning("IDENTITY_SMTP_URL is not set: mail stays in the outbox, undelivered")
        while True:
            self._mailer.wake.clear()
            try:
                while await self.deliver_due() == BATCH:
                    pass
                await self._count_pending()
            except Exception:
                # The database may be down; the next pass tries again. Never a body in the log.
                log.exception("mail outbox pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._mailer.wake.wait(), self._poll)

    async def deliver_due(self) -> int:
        """Claim the due mails and deliver them; how many were claimed."""
        if self._smtp is None:
            return 0
        async with self._uow() as uow:
            claimed = await uow.outbox.claim(self._clock.now(), LEASE, BATCH)
            await uow.commit()
        for entry in claimed:
            await self._deliver(entry, self._smtp)
        return len(claimed)

    async def _count_pending(self) -> None:
        async with self._uow(autocommit=True) as uow:
            metrics.MAIL_PENDING.set(await uow.outbox.pending())

    async def _deliver(self, entry: OutboxEntry, smtp: SmtpUrl) -> None:
        extra = {"mail_id": entry.mail_id, "kind": entry.kind, "tries": entry.tries}
        try:
            await self._send(self._mailer.opened(entry), smtp)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # The class and SMTP code only: a server's reply text may quote the recipient.
            code = getattr(exc, "code", None)
            error = type(exc).__name__ + (f" {code}" if code else "")
            metrics.MAIL_DELIVERY_ERRORS.labels(entry.kind).inc()
            now = self._clock.now()
            async with self._uow() as uow:
                if entry.tries >= self._max_tries:
                    await uow.outbox.give_up(entry.mail_id, now, error)
                else:
                    await uow.outbox.retry(entry.mail_id, now + retry_delay(entry.tries), error)
                await uow.commit()
            if entry.tries >= self._max_tries:
                metrics.MAIL_FAILED.labels(entry.kind).inc()
                log.error("mail given up", extra={**extra, "smtp_error": error})
            else:
                log.warning(
                    "mail delivery failed, will retry", extra={**extra, "smtp_error": error}
                )
            return
        async with self._uow() as uow:
            await uow.outbox.sent(entry.mail_id, self._clock.now())
            await uow.commit()
        metrics.MAIL_SENT.labels(entry.kind).inc()
        log.info("mail sent", extra=extra)

    async def _send(self, mail: Mail, smtp: SmtpUrl) -> None:
        message = EmailMessage()
        message["From"] = self._from
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = email.utils.formatdate(localtime=False)
        message["Message-ID"] = email.utils.make_msgid(domain="identity")
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            use_tls=smtp.implicit_tls,
            start_tls=True if smtp.starttls else False,
            timeout=SMTP_TIMEOUT,
        )
