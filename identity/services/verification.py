"""Proving an address: verification links, resends, and email change confirmed by the new address.

An email change applies only when the new address opens its link; the address must still be
free (case-insensitively) at that moment, and the old address is told. Asking to change to an
address another account has answers like any other request and mails nobody, so the answer
tells nothing about that address.
"""

from __future__ import annotations

import logging

from identity.domain.clock import Clock
from identity.domain.errors import AlreadyExists, InvalidArgument, InvalidLinkToken
from identity.domain.links import LinkPurpose, link_digest
from identity.domain.mail import MailKind
from identity.domain.passwords import normalize_email
from identity.domain.refresh import ClientInfo
from identity.domain.throttle import RESEND_USER_POLICY, resend_key
from identity.ports import UnitOfWorkFactory
from identity.services.accounts import Accounts
from identity.services.mailer import Mailer
from identity.services.throttling import count_request
from identity.services.tokens import AccessTokens

log = logging.getLogger(__name__)

VERIFY = LinkPurpose.VERIFY_EMAIL
CONFIRM = LinkPurpose.CONFIRM_EMAIL


class EmailVerification:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        tokens: AccessTokens,
        accounts: Accounts,
        mailer: Mailer,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._accounts = accounts
        self._mailer = mailer
        self._clock = clock

    async def verify_email(self, token: str) -> None:
        digest = link_digest(token, VERIFY)
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.links.consume(digest, VERIFY, now)
            # A link for an address the account no longer has proves nothing: void alike.
            if found is None or not await uow.users.set_email_verified(
                found.user_id, normalize_email(found.email)
            ):
                log.info("email verification refused: invalid link")
                raise InvalidLinkToken()
            await uow.audit.record("email_verified", "user", now, user_id=found.user_id)
            await uow.commit()
        log.info("email verified", extra={"user_id": found.user_id})

    async def resend(self, access_token: str) -> None:
        """A new verification link (voiding the older); nothing when already verified."""
        claims = self._tokens.check(access_token)
        now = self._clock.now()
        await count_request(self._uow, [(resend_key(claims.sub), RESEND_USER_POLICY)], now)
        async with self._uow() as uow:
            user = await uow.users.by_id(claims.sub)
            if user is None or user.email_verified:
                return
            await self._mailer.post_link(uow, VERIFY, user.user_id, user.email, now)
            await uow.commit()
        self._mailer.posted()
        log.info("verification link sent again", extra={"user_id": user.user_id})

    async def change_email(
        self, access_token: str, new_email: str, password: str, client: ClientInfo
    ) -> None:
        new_key = normalize_email(new_email)
        claims, user = await self._accounts.confirm_holder(
            access_token, password, client, "email change"
        )
        if new_key == normalize_email(user.email):
            raise InvalidArgument("new_email: already the account's address")
        now = self._clock.now()
        async with self._uow() as uow:
            taken = await uow.users.by_email(new_key) is not None
            if not taken:
                await self._mailer.post_link(uow, CONFIRM, user.user_id, new_email.strip(), now)
            await uow.audit.record(
                "email_change_requested",
                "user",
                now,
                user_id=user.user_id,
                session_id=claims.sid,
                outcome="address_taken" if taken else "ok",
            )
            await uow.commit()
        self._mailer.posted()
        log.info("email change requested", extra={"user_id": user.user_id})

    async def confirm_change(self, token: str) -> None:
        digest = link_digest(token, CONFIRM)
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.links.consume(digest, CONFIRM, now)
            user = await uow.users.by_id(found.user_id) if found is not None else None
            if found is None or user is None:
                log.info("email change refused: invalid link")
                raise InvalidLinkToken()
            new_key = normalize_email(found.email)
            owner = await uow.users.by_email(new_key)
            if owner is not None and owner.user_id != user.user_id:
                # Checked now, not when asked: the address may have been taken since. (The
                # unique index on email_key settles a race between the two.)
                raise AlreadyExists("email: already registered")
            await uow.users.set_email(user.user_id, found.email, new_key)
            # Links mailed to the old address must not act on the account any more.
            for purpose in LinkPurpose:
                await uow.links.void(user.user_id, purpose, now)
            await self._mailer.post(
                uow, MailKind.EMAIL_CHANGED_NOTICE, user.email, now, new_email=found.email
            )
            await uow.audit.record("email_changed", "user", now, user_id=user.user_id)
            await uow.commit()
        self._mailer.posted()
        log.info("email changed", extra={"user_id": user.user_id})
