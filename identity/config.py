"""Settings of the identity service, read once from the environment (IDENTITY_*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from identity import dev_data
from identity.config_accounts import AccountLifecycleSettings
from identity.config_schema import (
    ADDRESS,
    BOOLEAN,
    DAYS,
    HIDDEN,
    INTEGER,
    PATH,
    SECONDS,
    TEXT,
    Kind,
    Variable,
    check_fields,
    choice,
    declared,
    is_loopback,
    optional,
    read_fields,
    redact_url,
    redacted_repr,
    required,
    setting,
)
from identity.domain.errors import ConfigurationError
from identity.domain.hash_params import (
    DEFAULT_HASH_QUEUE,
    HASH_PRIORITIES,
    MIN_MEMORY_KIB,
    MIN_PARALLELISM,
    MIN_TIME_COST,
)
from identity.domain.jose import SUPPORTED_ALGORITHMS
from identity.domain.master_key import MasterKey
from identity.domain.passwords import DEFAULT_MIN_LENGTH, HIGHEST_MIN_LENGTH, LOWEST_MIN_LENGTH

DAY = 86400
# Read by the command line, not part of Settings.
DATA_DIR = Variable(
    "IDENTITY_DATA_DIR",
    PATH,
    Path(".identity-dev"),
    "data folder of `identity dev` (SQLite, master key, credentials)",
)
LOG_LEVEL = Variable("IDENTITY_LOG_LEVEL", TEXT, "INFO", "log level")
WORKERS = Variable(
    "IDENTITY_WORKERS",
    INTEGER,
    None,
    "processes of `identity serve` on its one port (SO_REUSEPORT); `--workers` overrides it",
    low=1,
    high=256,
    default_doc="one per core on PostgreSQL; 1 on SQLite (one process owns the file)",
)


@dataclass(frozen=True, kw_only=True)
class Settings(AccountLifecycleSettings):
    """Every setting of identity, each declared once: variable, default, range, README line.
    The accounts' group (mail, links, registration, second factor) is declared in
    identity.config_accounts; this class is the one entry point."""

    database_url: str = required(
        "IDENTITY_DATABASE_URL",
        TEXT,
        "SQLAlchemy URL: postgresql+asyncpg://… or sqlite+aiosqlite:///…",
        default_doc="SQLite in the data folder",
        redact=lambda url: repr(redact_url(url)),
    )
    master_key: MasterKey = required(
        "IDENTITY_MASTER_KEY",
        Kind(MasterKey.from_base64),
        "base64 of 32 bytes; encrypts signing keys and session secrets",
        default_doc="generated in dev mode only",
        redact=lambda _: HIDDEN,
    )
    grpc_listen: str = setting("IDENTITY_GRPC_LISTEN", TEXT, "127.0.0.1:50051", "gRPC bind address")
    issuer: str = setting(
        "IDENTITY_ISSUER", TEXT, "http://127.0.0.1:8080", "`iss` of access tokens"
    )
    audience: str = setting("IDENTITY_AUDIENCE", TEXT, "api", "default `aud` of access tokens")
    signing_alg: str = setting(
        "IDENTITY_SIGNING_ALG",
        choice(sorted(SUPPORTED_ALGORITHMS), fold_case=False),
        "ES256",
        "algorithm of new signing keys",
    )
    access_token_ttl: timedelta = setting(
        "IDENTITY_ACCESS_TOKEN_TTL",
        SECONDS,
        timedelta(seconds=600),
        "access token lifetime, seconds",
        low=60,
        high=3600,
    )
    refresh_grace: timedelta = setting(
        "IDENTITY_REFRESH_GRACE",
        SECONDS,
        timedelta(seconds=30),
        "reuse grace window, seconds",
        low=0,
        high=300,
    )
    session_idle: timedelta = setting(
        "IDENTITY_SESSION_IDLE_TTL",
        SECONDS,
        timedelta(days=14),
        "session idle lifetime, seconds (14 days); each rotation extends it",
        low=60,
        high=400 * DAY,
    )
    session_absolute: timedelta = setting(
        "IDENTITY_SESSION_ABSOLUTE_TTL",
        SECONDS,
        timedelta(days=30),
        "session absolute lifetime, seconds (30 days)",
        low=60,
        high=400 * DAY,
    )
    password_min_length: int = setting(
        "IDENTITY_PASSWORD_MIN_LENGTH",
        INTEGER,
        DEFAULT_MIN_LENGTH,
        "minimum password length; NIST SP 800-63B-4 wants 15",
        low=LOWEST_MIN_LENGTH,
        high=HIGHEST_MIN_LENGTH,
    )
    argon2_memory_kib: int = setting(
        "IDENTITY_ARGON2_MEMORY_KIB",
        INTEGER,
        MIN_MEMORY_KIB,
        "Argon2id memory cost, KiB (OWASP's minimum is the default)",
        low=MIN_MEMORY_KIB,
        high=4 * 1024 * 1024,
    )
    argon2_time_cost: int = setting(
        "IDENTITY_ARGON2_TIME_COST",
        INTEGER,
        MIN_TIME_COST,
        "Argon2id iterations",
        low=MIN_TIME_COST,
        high=100,
    )
    argon2_parallelism: int = setting(
        "IDENTITY_ARGON2_PARALLELISM",
        INTEGER,
        MIN_PARALLELISM,
        "Argon2id lanes",
        low=MIN_PARALLELISM,
        high=64,
    )
    hash_workers: int = setting(
        "IDENTITY_HASH_WORKERS",
        INTEGER,
        max(1, os.cpu_count() or 1),
        "concurrent password hashes",
        low=1,
        high=256,
        default_doc="number of cores",
    )
    hash_queue: int = setting(
        "IDENTITY_HASH_QUEUE",
        INTEGER,
        DEFAULT_HASH_QUEUE,
        "logins that may wait for a hash thread, per process; beyond, RESOURCE_EXHAUSTED at once",
        low=0,
        high=100_000,
    )
    hash_priority: str = setting(
        "IDENTITY_HASH_PRIORITY",
        choice(HASH_PRIORITIES, fold_case=True),
        HASH_PRIORITIES[0],
        "CPU priority of the hash threads: low (nice +10) or idle (only CPU no other thread wants)",
    )
    reuse_revokes_all: bool = setting(
        "IDENTITY_REUSE_REVOKES_ALL",
        BOOLEAN,
        False,
        "on refresh token reuse, end every session of the user, not just the family",
    )
    jwks_max_age: timedelta = setting(
        "IDENTITY_JWKS_MAX_AGE",
        SECONDS,
        timedelta(seconds=300),
        "JWKS cache lifetime, seconds; a new key is published this long before it signs",
        low=1,
        high=DAY,
    )
    key_rotation_interval: timedelta = setting(
        "IDENTITY_KEY_ROTATION_DAYS",
        DAYS,
        timedelta(days=30),
        "scheduled signing-key rotation interval, days",
        low=1,
        high=3650,
    )
    leeway: timedelta = setting(
        "IDENTITY_LEEWAY",
        SECONDS,
        timedelta(seconds=30),
        "clock leeway for exp/nbf/iat, seconds",
        low=0,
        high=60,
    )
    tls_cert: Path | None = optional(
        "IDENTITY_TLS_CERT", PATH, "PEM certificate chain; with IDENTITY_TLS_KEY enables TLS"
    )
    tls_key: Path | None = optional("IDENTITY_TLS_KEY", PATH, "PEM private key")
    tls_client_ca: Path | None = optional(
        "IDENTITY_TLS_CLIENT_CA",
        PATH,
        "PEM CA bundle; when set, clients need a certificate (mTLS)",
    )
    allow_plaintext_remote: bool = setting(
        "IDENTITY_ALLOW_PLAINTEXT_REMOTE",
        BOOLEAN,
        False,
        "allow plaintext gRPC on a non-loopback address",
    )
    migrate: bool = setting(
        "IDENTITY_MIGRATE",
        BOOLEAN,
        False,
        "migrate the schema to head at start instead of refusing",
        default_doc="`false` (`true` in dev)",
    )
    max_message_bytes: int = setting(
        "IDENTITY_MAX_MESSAGE_BYTES",
        INTEGER,
        65536,
        "largest gRPC request accepted",
        low=4096,
        high=4 * 1024 * 1024,
    )
    max_concurrent_rpcs: int = setting(
        "IDENTITY_MAX_CONCURRENT_RPCS",
        INTEGER,
        1000,
        "RPCs served at once, open WatchRevocations streams included; beyond, RESOURCE_EXHAUSTED",
        low=4,
        high=100_000,
    )
    drain_period: timedelta = setting(
        "IDENTITY_DRAIN_PERIOD",
        SECONDS,
        timedelta(seconds=5),
        "on SIGTERM, seconds health says NOT_SERVING while calls are still served, so callers"
        " move to other replicas; then the server stops accepting and finishes in-flight calls",
        low=0,
        high=300,
    )
    metrics_listen: str | None = optional(
        "IDENTITY_METRICS_LISTEN",
        ADDRESS,
        "host:port for Prometheus /metrics; unset disables it",
    )
    default_client_id: str = "spa"
    default_scope: str = "api"
    revocation_heartbeat: timedelta = setting(
        "IDENTITY_REVOCATION_HEARTBEAT",
        SECONDS,
        timedelta(seconds=5),
        "seconds between WatchRevocations heartbeats on an idle stream",
        low=1,
        high=60,
    )

    def __post_init__(self) -> None:
        try:
            check_fields(self)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if not self.issuer or not self.audience:
            raise ConfigurationError("IDENTITY_ISSUER and IDENTITY_AUDIENCE must not be empty")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError("IDENTITY_TLS_CERT and IDENTITY_TLS_KEY go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigurationError(
                "IDENTITY_TLS_CLIENT_CA needs IDENTITY_TLS_CERT and IDENTITY_TLS_KEY"
            )
        if (
            self.tls_cert is None
            and not self.allow_plaintext_remote
            and not is_loopback(self.grpc_listen)
        ):
            raise ConfigurationError(
                "IDENTITY_GRPC_LISTEN: plaintext gRPC binds to loopback only; configure TLS "
                "(IDENTITY_TLS_CERT/IDENTITY_TLS_KEY) or set IDENTITY_ALLOW_PLAINTEXT_REMOTE=true"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, dev_data_dir: Path | None = None) -> Settings:
        """Build settings; in dev mode (dev_data_dir given) missing secrets are made there."""
        try:
            values = read_fields(cls, env, migrate=dev_data_dir is not None)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if dev_data_dir is not None:
            try:
                dev_data.make_private(dev_data_dir)
                if "database_url" not in values:
                    values["database_url"] = dev_data.database_url(dev_data_dir)
                if "master_key" not in values:
                    values["master_key"] = MasterKey.from_base64(dev_data.master_key(dev_data_dir))
            except OSError as exc:
                raise ConfigurationError(f"data folder {str(dev_data_dir)!r}: {exc}") from None
        if "database_url" not in values:
            raise ConfigurationError("IDENTITY_DATABASE_URL: required outside `identity dev`")
        if "master_key" not in values:
            raise ConfigurationError(
                "IDENTITY_MASTER_KEY: required in production (base64 of 32 random bytes; "
                "for example: openssl rand -base64 32)"
            )
        return cls(**values)

    def __repr__(self) -> str:
        return redacted_repr(self)

    @property
    def link_base(self) -> str:
        """Where mailed links point: IDENTITY_PUBLIC_URL, else the issuer."""
        return self.public_url or self.issuer


# The README's configuration table lists these, in this order (tests/test_readme.py).
_ACCOUNTS = {f.name for f, _ in declared(AccountLifecycleSettings)}
VARIABLES: tuple[Variable[Any], ...] = (
    *(variable for f, variable in declared(Settings) if f.name not in _ACCOUNTS),
    *(variable for _, variable in declared(AccountLifecycleSettings)),
    WORKERS,
    DATA_DIR,
    LOG_LEVEL,
)
