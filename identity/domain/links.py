"""Link tokens: the one-time secrets that mailed links carry (DESIGN §12).

A link token is a prefix (`idpr_` for a password reset, `idev_` for proving an address) and 32
random bytes, base64url. Only its SHA-256 digest is stored. It is single use, short-lived, and a
newer token of the same purpose voids the older ones. It travels in the URL fragment, which
browsers never send to a server nor put in a `Referer`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from identity.domain.errors import InvalidLinkToken
from identity.domain.opaque import new_opaque_token, opaque_digest

RESET_PREFIX = "idpr_"
VERIFY_PREFIX = "idev_"
_TOKEN = re.compile(r"(idpr|idev)_[A-Za-z0-9_-]{43}")


class LinkPurpose(enum.Enum):
    """What a link proves; the value is stored. Each purpose has its prefix and page route."""

    RESET_PASSWORD = "reset_password"
    VERIFY_EMAIL = "verify_email"
    CONFIRM_EMAIL = "confirm_email"

    @property
    def prefix(self) -> str:
        return RESET_PREFIX if self is LinkPurpose.RESET_PASSWORD else VERIFY_PREFIX

    @property
    def route(self) -> str:
        """The demo page's fragment route that handles this link (fixed in DESIGN §12)."""
        return {
            LinkPurpose.RESET_PASSWORD: "reset-password",
            LinkPurpose.VERIFY_EMAIL: "verify-email",
            LinkPurpose.CONFIRM_EMAIL: "confirm-email",
        }[self]


@dataclass(frozen=True)
class LinkLifetimes:
    reset: timedelta = timedelta(minutes=30)
    verification: timedelta = timedelta(hours=24)

    def of(self, purpose: LinkPurpose) -> timedelta:
        return self.reset if purpose is LinkPurpose.RESET_PASSWORD else self.verification


@dataclass(frozen=True)
class NewLink:
    """A freshly made token: the secret goes into one mail, the digest into the database."""

    token: str
    digest: bytes
    purpose: LinkPurpose
    expires_at: datetime

    def __repr__(self) -> str:
        return f"NewLink(purpose={self.purpose.value}, expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True)
class LinkRecord:
    """A live link token as the store found it: whose it is and the address it proves."""

    user_id: str
    email: str


def new_link(purpose: LinkPurpose, now: datetime, lifetimes: LinkLifetimes) -> NewLink:
    token = new_opaque_token(purpose.prefix)
    return NewLink(token, link_digest(token, purpose), purpose, now + lifetimes.of(purpose))


def link_digest(token: object, purpose: LinkPurpose) -> bytes:
    """The stored form of a presented token. Anything not shaped like a token of this purpose
    is refused here, cheaply, with the one error every bad link gets."""
    if (
        not isinstance(token, str)
        or _TOKEN.fullmatch(token) is None
        or not token.startswith(purpose.prefix)
    ):
        raise InvalidLinkToken()
    return opaque_digest(token)


def link_url(public_url: str, link: NewLink) -> str:
    """`{public_url}/#/<route>?token=…`: the token in the fragment only."""
    return f"{public_url.rstrip('/')}/#/{link.purpose.route}?token={quote(link.token, safe='')}"


@dataclass(frozen=True)
class FoundLink:
    """A link `link_url` made, found again in a mail's text (by the dev inbox and the kit)."""

    url: str = field(repr=False)
    purpose: LinkPurpose
    token: str = field(repr=False)


_ROUTES = {purpose.route: purpose for purpose in LinkPurpose}
_LINK_URL = re.compile(
    r"https?://[^\s\"'<>#]+/#/(" + "|".join(_ROUTES) + r")\?token=([A-Za-z0-9_-]+)"
)


def find_links(text: str) -> list[FoundLink]:
    """Every link of `link_url`'s shape in `text`, in order."""
    return [
        FoundLink(match.group(0), _ROUTES[match.group(1)], match.group(2))
        for match in _LINK_URL.finditer(text)
    ]
