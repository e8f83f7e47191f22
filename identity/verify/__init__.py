"""Offline verification of the identity service's access tokens, for other services.

    from identity.verify import Verifier, InvalidToken

    verifier = Verifier(issuer="http://127.0.0.1:8080", audience="api",
                        jwks_url="http://127.0.0.1:8080/.well-known/jwks.json")
    try:
        claims = verifier.verify(token)          # or: await verifier.averify(token)
    except InvalidToken:
        ...                                      # 401

This package imports no server code (no gRPC servicer, SQLAlchemy or edge): only the pure token
rules and JWS codec of `identity.domain` and the generated gRPC client messages.
"""

from __future__ import annotations

from identity.domain.token_rules import RevocationView
from identity.verify.errors import (
    BadSignature,
    DisallowedAlgorithm,
    ExpiredToken,
    InvalidToken,
    JwksUnavailable,
    MalformedToken,
    NotYetValid,
    RevokedToken,
    StaleRevocations,
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
    "BadSignature",
    "DisallowedAlgorithm",
    "ExpiredToken",
    "FetchedJwks",
    "GrpcJwksSource",
    "HttpJwksSource",
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
    "UnknownKey",
    "UnverifiedEmail",
    "Verifier",
    "WrongAudience",
    "WrongIssuer",
    "WrongType",
]
