"""Every error the service raises on purpose.

IdentityError
 ├── InvalidArgument          bad input (public text names the field, never echoes a secret)
 │    ├── WeakPassword
 │    └── InvalidLinkToken     a mailed link's token: unknown, used, expired or voided, alike
 ├── Unauthenticated          one public text for every token or password failure
 │    ├── InvalidCredentials
 │    ├── InvalidRefreshToken
 │    ├── RefreshTokenReused
 │    ├── SecondFactorRefused  an MFA ticket or code: unknown, used, expired or wrong, alike
 │    └── InvalidAccessToken
 │         └── InvalidToken   not an active access token; each leaf below says why
 │              ├── MalformedToken       not a JWS, too long, bad JSON, a claim's type, crit
 │              ├── WrongType            typ is not at+jwt
 │              ├── UnknownKey           kid missing, not a string, or not in the key set
 │              ├── DisallowedAlgorithm  alg differs from the key's own alg or the allow-list
 │              ├── BadSignature
 │              ├── ExpiredToken
 │              ├── NotYetValid          nbf or iat in the future (beyond the leeway)
 │              ├── WrongIssuer
 │              ├── WrongAudience
 │              ├── RevokedToken         session, user not-before or jti revoked
 │              └── StepUpRequired       valid, but not the authentication a caller demanded
 │                   ├── InsufficientAuthentication   acr missing, unknown or too low
 │                   └── AuthenticationTooOld         auth_time missing or too long ago
 ├── PermissionDenied
 │    ├── EmailNotVerified     login refused until the address is verified (`required` mode)
 │    └── RecentStepUpRequired  changing the factor needs a fresh second-factor proof
 ├── NotFound
 ├── AlreadyExists
 ├── RateLimited              carries retry_after (seconds)
 │    └── Overloaded          the hashing pool shed the call
 ├── Unavailable              the database or a dependency is down
 └── ConfigurationError       refuses to start
"""

from __future__ import annotations

from typing import ClassVar


class IdentityError(Exception):
    """Base of every error raised on purpose. `public` is safe to send; str(exc) may not be."""

    code: ClassVar[str] = "identity_error"
    public: ClassVar[str] = "request failed"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.public)
        self.detail = detail or self.public

    @property
    def message(self) -> str:
        """The text a client sees."""
        return self.public


class InvalidArgument(IdentityError):
    code = "invalid_argument"
    public = "invalid request"

    @property
    def message(self) -> str:
        # Validation details are written by our own code and never contain the input itself.
        return self.detail


class WeakPassword(InvalidArgument):
    code = "weak_password"


class InvalidLinkToken(InvalidArgument):
    """One error, one text for every bad link: used, expired, voided, unknown or malformed."""

    code = "invalid_link_token"
    public = "invalid or expired link"

    @property
    def message(self) -> str:
        return self.public


class Unauthenticated(IdentityError):
    code = "unauthenticated"
    public = "invalid or expired credentials"


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"


class InvalidRefreshToken(Unauthenticated):
    code = "invalid_refresh_token"


class RefreshTokenReused(InvalidRefreshToken):
    code = "refresh_token_reused"


class SecondFactorRefused(Unauthenticated):
    """One error, one text for every refused MFA ticket or code: no oracle on which was wrong."""

    code = "second_factor_refused"
    public = "invalid or expired ticket or code"


class InvalidAccessToken(Unauthenticated):
    code = "invalid_access_token"


class InvalidToken(InvalidAccessToken):
    """The token is not an active access token. Subclasses say why; the message never does."""

    code = "invalid_token"


class MalformedToken(InvalidToken):
    code = "malformed_token"


class WrongType(InvalidToken):
    code = "wrong_token_type"


class UnknownKey(InvalidToken):
    code = "unknown_key"


class DisallowedAlgorithm(InvalidToken):
    code = "disallowed_algorithm"


class BadSignature(InvalidToken):
    code = "bad_signature"


class ExpiredToken(InvalidToken):
    code = "expired_token"


class NotYetValid(InvalidToken):
    code = "token_not_yet_valid"


class WrongIssuer(InvalidToken):
    code = "wrong_issuer"


class WrongAudience(InvalidToken):
    code = "wrong_audience"


class RevokedToken(InvalidToken):
    code = "revoked_token"


class StepUpRequired(InvalidToken):
    """The token is valid, but the caller demanded a level (`acr`) or a recency (`max_age`,
    seconds since auth_time) it does not meet: the user must authenticate again (step up).
    Both demands are carried, for the RFC 9470 challenge that tells the client what to get."""

    code = "step_up_required"
    public = "stronger or more recent authentication required"

    def __init__(self, acr: str | None, max_age: float | None, detail: str | None = None) -> None:
        super().__init__(detail)
        self.acr = acr
        self.max_age = max_age


class InsufficientAuthentication(StepUpRequired):
    code = "insufficient_authentication"

    def __init__(self, acr: str | None, max_age: float | None, detail: str | None = None) -> None:
        super().__init__(acr, max_age, detail or "authentication level too low")


class AuthenticationTooOld(StepUpRequired):
    code = "authentication_too_old"

    def __init__(self, acr: str | None, max_age: float | None, detail: str | None = None) -> None:
        super().__init__(acr, max_age, detail or "authentication too long ago")


class PermissionDenied(IdentityError):
    code = "permission_denied"
    public = "permission denied"


class EmailNotVerified(PermissionDenied):
    code = "email_not_verified"
    public = "email address not verified"


class RecentStepUpRequired(PermissionDenied):
    """The session did not prove the second factor recently enough (StepUp first)."""

    code = "step_up_required"
    public = "step-up required"


class NotFound(IdentityError):
    code = "not_found"
    public = "not found"

    @property
    def message(self) -> str:
        return self.detail


class AlreadyExists(IdentityError):
    code = "already_exists"
    public = "already exists"

    @property
    def message(self) -> str:
        return self.detail


class RateLimited(IdentityError):
    code = "rate_limited"
    public = "too many attempts, try again later"

    def __init__(self, retry_after: float, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after + 0.999))


class Overloaded(RateLimited):
    code = "overloaded"
    public = "too many requests, try again later"


class Unavailable(IdentityError):
    code = "unavailable"
    public = "service temporarily unavailable"


class ConfigurationError(IdentityError):
    code = "configuration_error"
    public = "invalid configuration"

    @property
    def message(self) -> str:
        return self.detail
