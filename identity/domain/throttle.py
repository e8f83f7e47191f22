"""Login throttling: growing delays, never a permanent automatic lock-out (NIST 800-63B-4).

NIST SP 800-63B-4 §3.2.2 limits consecutive failed attempts per account without locking it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    """After `free_failures` in a streak, each further failure blocks for a doubling delay."""

    free_failures: int
    base_delay: timedelta
    max_delay: timedelta
    # A streak ends when no failure happened for this long.
    reset_after: timedelta = timedelta(hours=1)

    def delay(self, failures: int) -> timedelta:
        over = failures - self.free_failures
        if over <= 0:
            return timedelta(0)
        return min(self.base_delay * (1 << min(over - 1, 30)), self.max_delay)


# Per account: 5 free, then 1 s, 2 s, 4 s ... capped at 15 minutes: well under 100 failures an hour.
ACCOUNT_POLICY = ThrottlePolicy(5, timedelta(seconds=1), timedelta(minutes=15))
# Per client IP (password spraying): more room for shared addresses, same growth.
IP_POLICY = ThrottlePolicy(20, timedelta(seconds=1), timedelta(minutes=5))


def account_key(email_key: str) -> str:
    """Throttle key of an email, known or not; hashed so the table holds no email."""
    return "a:" + hashlib.sha256(email_key.encode()).hexdigest()[:40]


def ip_key(ip: str) -> str:
    return "i:" + (ip or "unknown")[:64]


# Requests that send mail or create accounts are counted like failures, whatever their outcome
# (a known and an unknown address alike), so one address or client cannot flood a mailbox.
RESET_ADDRESS_POLICY = ThrottlePolicy(3, timedelta(minutes=1), timedelta(hours=1))
RESET_IP_POLICY = ThrottlePolicy(20, timedelta(seconds=10), timedelta(minutes=15))
DEFAULT_REGISTRATIONS_PER_IP = 20


def register_ip_policy(free: int) -> ThrottlePolicy:
    """Registrations per client IP: `free` in a streak (IDENTITY_REGISTRATIONS_PER_IP)."""
    return ThrottlePolicy(free, timedelta(seconds=10), timedelta(minutes=15))


RESEND_USER_POLICY = ThrottlePolicy(3, timedelta(minutes=1), timedelta(hours=1))


def reset_address_key(email_key: str) -> str:
    return "r:" + hashlib.sha256(email_key.encode()).hexdigest()[:40]


def reset_ip_key(ip: str) -> str:
    return "ri:" + (ip or "unknown")[:64]


def register_ip_key(ip: str) -> str:
    return "g:" + (ip or "unknown")[:64]


def resend_key(user_id: str) -> str:
    return "v:" + user_id[:64]
