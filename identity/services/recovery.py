"""Password reset by a mailed link (OWASP Forgot Password Cheat Sheet).

A request answers the same, in about the same time, for a known and an unknown address; only a
known one gets a link. Completing the reset applies the password policy (a refused password
leaves the link usable), ends every session and sets the user's not-before (the revocation feed
carries it), clears the account's login throttle and mails a notice. It does not sign in.
"""

from __future__ import annotations

import logging

from identity.domain.clock import Clock
from identity.domain.errors import InvalidLinkToken
from identity.domain.links import LinkPurpose, link_digest
from identity.domain.mail import MailKind
from identity.domain.passwords import PasswordPolicy, check_new_password, normalize_email
from identity.domain.refresh import ClientInfo
from identity.domain.sessions import RevocationReason
from identity.domain.throttle import (
    RESET_ADDRESS_POLICY,
    RESET_IP_POLICY,
    account_key,
    reset_address_key,
    reset_ip_key,
)
from identity.ports import UnitOfWorkFactory
from identity.services.hashing import PasswordHashing
from identity.services.mailer import Mailer
from identity.services.revoker import Revoker
from identity.services.throttling import count_request

log = logging.getLogger(__name__)

RESET = LinkPurpose.RESET_PASSWORD


class PasswordRecovery:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hashing: PasswordHashing,
        revoker: Revoker,
        mailer: Mailer,
        policy: PasswordPolicy,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._hashing = hashing
        self._revoker = revoker
        self._mailer = mailer
        self._policy = policy
        self._clock = clock

    async def request_reset(self, email: str, client: ClientInfo) -> None:
        """Mail a reset link if the address has an account. The caller learns nothing either way."""
        email_key = normalize_email(email)
        keys = [
            (reset_address_key(email_key), RESET_ADDRESS_POLICY),
            (reset_ip_key(client.ip), RESET_IP_POLICY),
        ]
        await count_request(self._uow, keys, self._clock.now())
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.by_email(email_key)
            if user is not None:
                await self._mailer.post_link(uow, RESET, user.user_id, user.email, now)
                await uow.audit.record(
                    "password_reset_requested", "user", now, user_id=user.user_id
                )
            await uow.commit()
        if user is not None:
            self._mailer.posted()
        log.info("password reset requested", extra={"user_id": user.user_id if user else None})

    async def reset_password(self, token: str, password: str) -> None:
        digest = link_digest(token, RESET)
        now = self._clock.now()
        async with self._uow(autocommit=True) as uow:
            found = await uow.links.find(digest, RESET, now)
            user = await uow.users.by_id(found.user_id) if found is not None else None
        # A link mailed to an address the account no longer has is void too.
        if (
            found is None
            or user is None
            or normalize_email(found.email) != normalize_email(user.email)
        ):
            log.info("password reset refused: invalid link")
            raise InvalidLinkToken()
        email_key = normalize_email(user.email)
        # The policy before the link is consumed: a refused password leaves the link usable.
        normalized = check_new_password(password, email_key, self._policy)
        new_hash = await self._hashing.hash(normalized)
        now = self._clock.now()
        async with self._uow() as uow:
            if await uow.links.consume(digest, RESET, now) is None:
                raise InvalidLinkToken()  # used or voided meanwhile
            await uow.users.set_password_hash(user.user_id, new_hash, now)
            events = await self._revoker.revoke_user(
                uow, user.user_id, RevocationReason.PASSWORD_RESET, now
            )
            await uow.throttle.clear(account_key(email_key))
            await uow.audit.record("password_reset", "user", now, user_id=user.user_id)
            await self._mailer.post(uow, MailKind.PASSWORD_RESET_NOTICE, user.email, now)
            await uow.commit()
        self._revoker.publish(events)
        self._mailer.posted()
        log.info("password reset", extra={"user_id": user.user_id})
