"""Why a token was refused: the domain's InvalidToken tree, plus one verifier-only leaf.

InvalidToken                 not an active access token (every refusal below is one)
 ├── MalformedToken          not a JWS, too long, bad JSON, a claim of the wrong type, crit
 ├── WrongType               typ is not at+jwt
 ├── UnknownKey              kid missing, not a string, or not in the JWK Set
 │    └── JwksUnavailable    no JWK Set was ever fetched (the key server is unreachable)
 ├── DisallowedAlgorithm     alg differs from the key's own alg or from the allow-list
 ├── BadSignature
 ├── ExpiredToken
 ├── NotYetValid             nbf or iat in the future (beyond the leeway)
 ├── WrongIssuer
 ├── WrongAudience
 ├── RevokedToken            refused by the revocation view plugged into the Verifier
 ├── StepUpRequired          valid, but not the authentication this call demanded (acr=,
 │    │                      max_auth_age=); carries the demands, see step_up_challenge
 │    ├── InsufficientAuthentication   acr missing, unknown or below the demanded level
 │    └── AuthenticationTooOld         auth_time missing or older than max_auth_age
 ├── StaleRevocations        the revocation feed is staler than max_staleness: fail closed
 └── UnverifiedEmail         email_verified is not true, and the Verifier requires it

A caller answers 401 to all of them, except perhaps 503 to JwksUnavailable; to StepUpRequired
401 with `WWW-Authenticate: <step_up_challenge(error)>` (RFC 9470), which tells the client to
have the user step up.
"""

from __future__ import annotations

from identity.domain.errors import (
    AuthenticationTooOld,
    BadSignature,
    DisallowedAlgorithm,
    ExpiredToken,
    InsufficientAuthentication,
    InvalidToken,
    MalformedToken,
    NotYetValid,
    RevokedToken,
    StepUpRequired,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
    WrongType,
)


class JwksUnavailable(UnknownKey):
    """No key set has been fetched yet, so no token can be checked: fail closed."""

    code = "jwks_unavailable"


class StaleRevocations(InvalidToken):
    """Revocations may have been missed (the feed is too stale), so no token is accepted."""

    code = "stale_revocations"


class UnverifiedEmail(InvalidToken):
    """The token is valid, but its user had not verified their address when it was minted
    (`Verifier(require_email_verified=True)`). A refresh after verifying mints one that passes."""

    code = "unverified_email"


__all__ = [
    "AuthenticationTooOld",
    "BadSignature",
    "DisallowedAlgorithm",
    "ExpiredToken",
    "InsufficientAuthentication",
    "InvalidToken",
    "JwksUnavailable",
    "MalformedToken",
    "NotYetValid",
    "RevokedToken",
    "StaleRevocations",
    "StepUpRequired",
    "UnknownKey",
    "UnverifiedEmail",
    "WrongAudience",
    "WrongIssuer",
    "WrongType",
]
