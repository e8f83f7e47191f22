"""TOTP (RFC 6238): the shared secret, the authenticator app's URI and QR code, and matching a
code against the clock.

SHA-1, six digits, 30-second steps, as every authenticator app does by default. A code is
accepted for the current step and one step either side (clock drift, a code typed as it
changed), never two. Which step matched is returned: the store accepts a code only for a step
later than the last one used, so no code works twice (identity.persistence.second_factors).
The HOTP arithmetic is pyotp's, a kept implementation of RFC 4226/6238.
"""

from __future__ import annotations

import base64
import hmac
import io
import os
from datetime import datetime

import pyotp
import segno

from identity.domain.second_factor import DIGITS

STEP_SECONDS = 30
# Steps accepted either side of the current one.
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended HMAC-SHA-1 key length


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """The secret as authenticator apps take it: base32 without padding (20 bytes need none)."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: bytes, step: int, digits: int = DIGITS) -> str:
    """The code of one time step. `digits` other than six only for RFC 6238's test vectors."""
    return pyotp.TOTP(secret_text(secret), digits=digits, interval=STEP_SECONDS).generate_otp(step)


def match_step(secret: bytes, code: str, now: datetime) -> int | None:
    """The latest step within the drift window whose code is `code`, else None. Every candidate
    is compared, in constant time, so the answer's timing says nothing about which step (or
    which digit) differed."""
    current = time_step(now)
    matched: int | None = None
    for step in range(max(0, current - DRIFT_STEPS), current + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at(secret, step).encode(), code.encode()):
            matched = step
    return matched


def otpauth_uri(secret: bytes, account: str, issuer: str) -> str:
    """`otpauth://totp/Issuer:account?secret=…&issuer=Issuer` (Google Authenticator's format)."""
    totp = pyotp.TOTP(secret_text(secret), digits=DIGITS, interval=STEP_SECONDS)
    return totp.provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI's QR code as a standalone SVG element (no XML declaration: it goes inline into a
    page or a JSON answer), drawn by segno, a pure-Python QR encoder."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, nl=False, scale=4)
    return out.getvalue().decode("ascii")
