"""Mail the service sends: kinds, the outbox retry schedule and the verification mode."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

# An unsent mail is retried after 1 s, 2 s, 4 s … at most this long apart.
MAX_RETRY_DELAY = timedelta(seconds=60)


class MailKind(enum.Enum):
    """One template each (identity/mail_templates/<value>.{subject,txt,html}); a metrics label."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"
    CONFIRM_EMAIL = "confirm_email"
    SIGNUP_ATTEMPT = "signup_attempt"
    PASSWORD_RESET_NOTICE = "password_reset_notice"
    PASSWORD_CHANGED_NOTICE = "password_changed_notice"
    EMAIL_CHANGED_NOTICE = "email_changed_notice"
    SECOND_FACTOR_ENABLED_NOTICE = "second_factor_enabled_notice"
    SECOND_FACTOR_DISABLED_NOTICE = "second_factor_disabled_notice"
    RECOVERY_CODES_NOTICE = "recovery_codes_notice"
    SECOND_FACTOR_RESET_NOTICE = "second_factor_reset_notice"


class VerificationMode(enum.Enum):
    """IDENTITY_EMAIL_VERIFICATION: `optional` mails a link and lets the user in; `required`
    refuses login until the address is verified; `off` mails no link at all."""

    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclass(frozen=True)
class Mail:
    """A rendered message, as the outbox keeps it (encrypted) until it is delivered."""

    kind: MailKind
    to: str
    subject: str
    text: str
    html: str

    def __repr__(self) -> str:  # the bodies may hold a link: never in a log line
        return f"Mail(kind={self.kind.value})"


def retry_delay(tries: int) -> timedelta:
    """Exponential backoff after `tries` failed deliveries, capped at MAX_RETRY_DELAY."""
    return min(timedelta(seconds=1 << min(max(tries - 1, 0), 16)), MAX_RETRY_DELAY)
