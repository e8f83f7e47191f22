"""The accounts' settings (IDENTITY_*): mail and its links, registration, the second factor.

A base of identity.config.Settings, which is the one entry point; declared here to keep each
module a readable size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from identity.config_schema import INTEGER, PATH, SECONDS, TEXT, Kind, choice, optional, setting
from identity.domain.links import LinkLifetimes
from identity.domain.mail import VerificationMode
from identity.domain.second_factor import DEFAULT_STEP_UP_MAX_AGE, DEFAULT_TICKET_TTL
from identity.domain.smtp_url import SmtpUrl
from identity.domain.throttle import DEFAULT_REGISTRATIONS_PER_IP

DAY = 86400


@dataclass(frozen=True)
class AccountLifecycleSettings:
    email_verification: str = setting(
        "IDENTITY_EMAIL_VERIFICATION",
        choice([mode.value for mode in VerificationMode], fold_case=True),
        VerificationMode.OPTIONAL.value,
        "`optional` mails a verification link; `required` also refuses login until verified",
    )
    smtp_url: SmtpUrl | None = optional(
        "IDENTITY_SMTP_URL",
        Kind(SmtpUrl.parse, write=str, allowed="smtp://, smtp+starttls://, smtps://"),
        "where mail goes: `scheme://[user:password@]host[:port]`; unset keeps mail in the outbox",
        default_doc="unset (`identity dev`: a local mail catcher)",
    )
    mail_from: str = setting(
        "IDENTITY_MAIL_FROM", TEXT, "identity@localhost", "`From` address of every mail"
    )
    public_url: str | None = optional(
        "IDENTITY_PUBLIC_URL",
        TEXT,
        "origin of the page mailed links open",
        default_doc="the issuer",
    )
    reset_link_ttl: timedelta = setting(
        "IDENTITY_RESET_LINK_TTL",
        SECONDS,
        LinkLifetimes.reset,
        "lifetime of a password reset link, seconds",
        low=300,
        high=DAY,
    )
    verification_link_ttl: timedelta = setting(
        "IDENTITY_VERIFICATION_LINK_TTL",
        SECONDS,
        LinkLifetimes.verification,
        "lifetime of an email verification or email change link, seconds",
        low=3600,
        high=7 * DAY,
    )
    registrations_per_ip: int = setting(
        "IDENTITY_REGISTRATIONS_PER_IP",
        INTEGER,
        DEFAULT_REGISTRATIONS_PER_IP,
        "registrations one client IP may make before each next one waits 10 s, 20 s … 15 min",
        low=1,
        high=1_000_000,
    )
    mail_max_tries: int = setting(
        "IDENTITY_MAIL_MAX_TRIES",
        INTEGER,
        10,
        "delivery tries of one mail before it is given up (and listed as failed)",
        low=1,
        high=100,
    )
    mail_templates: Path | None = optional(
        "IDENTITY_MAIL_TEMPLATES", PATH, "folder of `<kind>.txt`/`.html` overriding built-in mails"
    )
    mfa_ticket_ttl: timedelta = setting(
        "IDENTITY_MFA_TICKET_TTL",
        SECONDS,
        DEFAULT_TICKET_TTL,
        "lifetime of the MFA ticket between a right password and the second factor, seconds",
        low=60,
        high=900,
    )
    step_up_max_age: timedelta = setting(
        "IDENTITY_STEP_UP_MAX_AGE",
        SECONDS,
        DEFAULT_STEP_UP_MAX_AGE,
        "how recent a step-up must be to disable TOTP or regenerate recovery codes, seconds",
        low=30,
        high=3600,
    )
    totp_issuer: str | None = optional(
        "IDENTITY_TOTP_ISSUER",
        TEXT,
        "issuer name authenticator apps show for the account (the `otpauth://` URI's)",
        default_doc="the host of IDENTITY_PUBLIC_URL, else `identity`",
    )

    @property
    def totp_issuer_name(self) -> str:
        if self.totp_issuer:
            return self.totp_issuer
        host = urlsplit(self.public_url).hostname if self.public_url else None
        return host or "identity"
