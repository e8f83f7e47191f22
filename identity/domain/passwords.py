"""Password policy (NIST SP 800-63B-4 §3.1.1.2): length, NFKC, blocklist, no composition rules."""

from __future__ import annotations

import gzip
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from identity.domain.errors import InvalidArgument, WeakPassword

# NIST SP 800-63B-4 §3.1.1.2: "Verifiers SHALL require passwords used as a single-factor
# authentication mechanism to be a minimum of 15 characters in length."
DEFAULT_MIN_LENGTH = 15
LOWEST_MIN_LENGTH = 8
HIGHEST_MIN_LENGTH = 64
# "Verifiers SHOULD permit a maximum password length of at least 64 characters"; we accept 1024
# and refuse longer input before hashing so a huge password cannot cost an Argon2 run.
MAX_LENGTH = 1024
MAX_EMAIL_LENGTH = 254  # RFC 5321 §4.5.3.1.3 path limit less the angle brackets


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = DEFAULT_MIN_LENGTH
    service_name: str = "identity"

    def __post_init__(self) -> None:
        if not LOWEST_MIN_LENGTH <= self.min_length <= HIGHEST_MIN_LENGTH:
            raise ValueError(
                f"password minimum length must be {LOWEST_MIN_LENGTH}..{HIGHEST_MIN_LENGTH}"
            )


def normalize_password(password: str) -> str:
    """NFKC-normalise so that every Unicode spelling of one password hashes the same.

    Refuses what cannot be hashed faithfully (lone surrogates) and over-long input, both before
    any hashing work."""
    if len(password) > MAX_LENGTH:
        raise InvalidArgument(f"password: at most {MAX_LENGTH} characters")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument("password: not valid Unicode text") from None
    return unicodedata.normalize("NFKC", password)


def check_new_password(password: str, email: str, policy: PasswordPolicy) -> str:
    """Return the normalised password if it may be set, else raise WeakPassword."""
    normalized = normalize_password(password)
    if len(normalized) < policy.min_length:
        raise WeakPassword(f"password: at least {policy.min_length} characters")
    folded = normalized.casefold()
    if folded in common_passwords() or folded.strip() in common_passwords():
        raise WeakPassword("password: too common, choose another")
    local_part = email.split("@", 1)[0].casefold()
    if len(local_part) >= 4 and local_part in folded:
        raise WeakPassword("password: must not contain your email address")
    # Built on the service name ("identity-2024!"), not a long passphrase that mentions it:
    # NIST SP 800-63B-4 asks to refuse context-specific words as the password.
    if policy.service_name.casefold() in folded and len(folded) < 2 * len(policy.service_name) + 8:
        raise WeakPassword("password: must not be built on the service name")
    if len(set(folded)) < 4:
        raise WeakPassword("password: too repetitive")
    if _is_common_with_suffix(folded):
        raise WeakPassword("password: too common, choose another")
    return normalized


def _is_common_with_suffix(folded: str) -> bool:
    """A listed password padded with digits or punctuation ("password1234!") is still common."""
    core = folded.rstrip("0123456789!@#$%^&*?.-_ ")
    core = core.lstrip("0123456789!@#$%^&*?.-_ ")
    return bool(core) and core in common_passwords()


@cache
def common_passwords() -> frozenset[str]:
    data = resources.files("identity.domain").joinpath("data/common-passwords.txt.gz").read_bytes()
    words = gzip.decompress(data).decode("utf-8").split()
    extra = ("qwertyuiopasdf", "qwertyuiopasdfgh", "passwordpassword", "iloveyouiloveyou")
    return frozenset(w.casefold() for w in (*words, *extra))


def normalize_email(email: str) -> str:
    """Validate an email and return its case-folded form, the key of uniqueness."""
    if not isinstance(email, str) or not email.strip():
        raise InvalidArgument("email: required")
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidArgument(f"email: at most {MAX_EMAIL_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in email):
        raise InvalidArgument("email: contains control characters")
    # The shape is checked on the key, the form that decides uniqueness: NFKC turns an
    # ideographic space into " " and a fullwidth "＠" into "@".
    key = unicodedata.normalize("NFKC", email.strip()).casefold()
    # NFKC and case folding can lengthen text ("\ufdfa" becomes 18 characters, "ß" two): the
    # key is stored too (users.email_key, 320), so its length is checked as well.
    if len(key) > MAX_EMAIL_LENGTH:
        raise InvalidArgument(f"email: at most {MAX_EMAIL_LENGTH} characters")
    local, at, domain = key.rpartition("@")
    if (
        not at
        or not local
        or not domain
        or any(c.isspace() for c in key)
        or key.count("@") != email.count("@")  # no "@" may come from normalisation
        or "." not in domain.strip(".")
    ):
        raise InvalidArgument("email: not an email address")
    return key
