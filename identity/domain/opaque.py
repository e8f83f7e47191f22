"""Opaque secrets handed out once: a short recognisable prefix (for secret scanners) and 32
random bytes, base64url without padding; kept only as their SHA-256 digest. Mailed links
(`idpr_`, `idev_`), MFA tickets (`idmt_`) and service credentials (`idsk_`) are made this way;
refresh tokens (`idrt_`) are derived instead (identity.domain.refresh) but stored alike.
"""

from __future__ import annotations

import base64
import hashlib
import os

RANDOM_BYTES = 32


def new_opaque_token(prefix: str) -> str:
    return prefix + base64.urlsafe_b64encode(os.urandom(RANDOM_BYTES)).rstrip(b"=").decode("ascii")


def opaque_digest(token: str) -> bytes:
    """The stored form of a token already checked to be shaped like one (ASCII)."""
    return hashlib.sha256(token.encode("ascii")).digest()
