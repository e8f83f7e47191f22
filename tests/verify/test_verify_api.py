"""The public surface of identity.verify, and what importing it must not drag in."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest

import identity.verify
from identity.domain.errors import Unauthenticated
from identity.verify import GrpcJwksSource, HttpJwksSource, InvalidToken, Verifier

SERVER_MODULES = (
    "identity.rpc",
    "identity.services",
    "identity.persistence",
    "identity.app",
    "identity.cli",
    "sqlalchemy",
    "edge_http",
)


def test_all_exports_exactly_the_public_names():
    # As encode/httpx:tests/test_exported_members.py: every public name is listed, and exists.
    public = {
        name
        for name, value in vars(identity.verify).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("identity.")
    }
    assert set(identity.verify.__all__) == public
    assert sorted(identity.verify.__all__) == identity.verify.__all__
    for name in identity.verify.__all__:
        assert getattr(identity.verify, name) is not None


def test_every_refusal_is_an_invalid_token_and_unauthenticated():
    names = [
        "MalformedToken",
        "WrongType",
        "UnknownKey",
        "JwksUnavailable",
        "DisallowedAlgorithm",
        "BadSignature",
        "ExpiredToken",
        "NotYetValid",
        "WrongIssuer",
        "WrongAudience",
        "RevokedToken",
        "StepUpRequired",
        "InsufficientAuthentication",
        "AuthenticationTooOld",
    ]
    for name in names:
        error = getattr(identity.verify, name)
        assert issubclass(error, InvalidToken), name
        assert issubclass(error, Unauthenticated), name
    codes = {getattr(identity.verify, name).code for name in names}
    assert len(codes) == len(names)


def test_importing_verify_loads_no_server_code():
    probe = (
        "import identity.verify, sys; "
        f"bad = [m for m in sys.modules if m.startswith({SERVER_MODULES!r})]; "
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"identity.verify imported {result.stdout}{result.stderr}"


def test_verifier_needs_exactly_one_key_source():
    with pytest.raises(ValueError):
        Verifier(issuer="https://id", audience="api")
    with pytest.raises(ValueError):
        Verifier(
            issuer="https://id",
            audience="api",
            jwks_url="http://127.0.0.1:1/jwks",
            jwks_source=GrpcJwksSource("127.0.0.1:1"),
        )
    Verifier(issuer="https://id", audience="api", jwks_source=GrpcJwksSource("127.0.0.1:1"))
    Verifier(issuer="https://id", audience="api", jwks_source=HttpJwksSource("http://x/jwks"))


@pytest.mark.parametrize(
    "options",
    [
        {"issuer": ""},
        {"audience": ""},
        {"jwks_url": "file:///etc/passwd"},
        {"algorithms": []},
        {"algorithms": ["HS256"]},
        {"algorithms": ["ES256", "none"]},
        {"leeway": 61},
        {"leeway": timedelta(seconds=-1)},
        {"fetch_timeout": 0},
        {"refetch_cooldown": -1},
    ],
)
def test_verifier_refuses_unsafe_configuration(options):
    config: dict[str, Any] = {
        "issuer": "https://id",
        "audience": "api",
        "jwks_url": "http://127.0.0.1:1/jwks",
    }
    config.update(options)
    with pytest.raises(ValueError):
        Verifier(**config)


def test_default_policy_allows_the_three_asymmetric_algorithms_with_30s_leeway():
    verifier = Verifier(issuer="https://id", audience="api", jwks_url="http://127.0.0.1:1/jwks")
    assert verifier.policy.algorithms == {"ES256", "EdDSA", "RS256"}
    assert verifier.policy.leeway == timedelta(seconds=30)
