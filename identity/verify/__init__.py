"""Offline verification of the identity service's access tokens, for other services.

    from identity.verify import Verifier, InvalidToken

    verifier = Verifier(issuer="http://127.0.0.1:8080", audience="api",
                        jwks_url="http://127.0.0.1:8080/.well-known/jwks.json")
    try:
        claims = verifier.verify(token)          # or: await verifier.averify(token)
    except InvalidToken:
        ...                                      # 401

    # An operation that needs a second factor used in the last five minutes:
    try:
        claims = verifier.verify(token, acr="aal2", max_auth_age=300)
    except StepUpRequired as error:              # 401, WWW-Authenticate: step_up_challenge(error)
        ...

This package imports no server code (no gRPC servicer, SQLAlchemy or edge): only the pure token
rules and JWS codec of `identity.domain` and the generated gRPC client messages.
"""

from __future__ import annotations

from identity.domain.token_rules import RevocationView
from identity.verify.challenge import step_up_challenge
from identity.verify.errors import (
    AuthenticationTooOld,
    BadSignature,
    DisallowedAlgorithm,
    ExpiredToken,
    InsufficientAuthentication,
    InvalidToken,
    JwksUnavailable,
    MalformedToken,
    NotYetValid,
    RevokedToken,
    StaleRevocations,
    StepUpRequired,
    UnknownKey,
    UnverifiedEmail,
    WrongAudience,
    WrongIssuer,
    WrongType,
)
from identity.verify.grpc_source import GrpcJwksSource
from identity.verify.introspector import Introspector
from identity.verify.revocation_follower import RevocationFollower
from identity.verify.sources import FetchedJwks, HttpJwksSource, JwksFetchError, JwksSource
from identity.verify.verifier import Verifier

__all__ = [
    "AuthenticationTooOld",
    "BadSignature",
    "DisallowedAlgorithm",
    "ExpiredToken",
    "FetchedJwks",
    "GrpcJwksSource",
    "HttpJwksSource",
    "InsufficientAuthentication",
    "Introspector",
    "InvalidToken",
    "JwksFetchError",
    "JwksSource",
    "JwksUnavailable",
    "MalformedToken",
    "NotYetValid",
    "RevocationFollower",
    "RevocationView",
    "RevokedToken",
    "StaleRevocations",
    "StepUpRequired",
    "UnknownKey",
    "UnverifiedEmail",
    "Verifier",
    "WrongAudience",
    "WrongIssuer",
    "WrongType",
    "step_up_challenge",
]
