"""How and when a user authenticated: RFC 8176 `amr`, an assurance level `acr`, `auth_time`.

A session records its last authentication (sign-in, or a later step-up); every access token
minted for the session carries it, rotation included. Levels follow NIST SP 800-63B: a password
alone is AAL1, a password and a second factor (TOTP or a recovery code) AAL2.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Method(enum.StrEnum):
    """RFC 8176 authentication method reference values we use."""

    PASSWORD = "pwd"
    ONE_TIME_PASSWORD = "otp"  # TOTP, and recovery codes (one-time look-up secrets)


class Level(enum.StrEnum):
    AAL1 = "aal1"
    AAL2 = "aal2"


# Stronger levels rank higher; a demand for a level is met by it or anything above it.
_RANK: dict[str, int] = {Level.AAL1: 1, Level.AAL2: 2}


def meets(acr: str | None, required: str) -> bool:
    """Whether a token's `acr` satisfies a demanded level; an unknown or missing acr never does,
    nor does any acr when the demanded level is unknown (fail closed)."""
    have = _RANK.get(acr or "")
    need = _RANK.get(required)
    return have is not None and need is not None and have >= need


@dataclass(frozen=True)
class Authentication:
    methods: tuple[Method, ...]
    at: datetime

    @classmethod
    def password(cls, at: datetime) -> Authentication:
        return cls((Method.PASSWORD,), at)

    @classmethod
    def second_factor(cls, at: datetime) -> Authentication:
        return cls((Method.PASSWORD, Method.ONE_TIME_PASSWORD), at)

    @property
    def acr(self) -> Level:
        return Level.AAL2 if Method.ONE_TIME_PASSWORD in self.methods else Level.AAL1

    @property
    def amr(self) -> list[str]:
        return [str(m) for m in self.methods]

    def stored(self) -> str:
        """The `sessions.amr` column: method names separated by spaces."""
        return " ".join(self.methods)

    @classmethod
    def from_stored(cls, amr: str, at: datetime) -> Authentication:
        return cls(tuple(Method(m) for m in amr.split()), at)
