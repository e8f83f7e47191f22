"""Settings of the identity service, read once from the environment (IDENTITY_*)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path

from identity.domain.errors import ConfigurationError
from identity.domain.hash_params import HASH_PRIORITIES, MIN_MEMORY_KIB, MIN_TIME_COST
from identity.domain.master_key import MasterKey
from identity.domain.token_rules import SUPPORTED_ALGORITHMS
from identity.persistence.database import redact_url

DEFAULT_DATA_DIR = Path(".identity-dev")

# name -> (default, description). The README's configuration table is checked against this.
VARIABLES: dict[str, tuple[str, str]] = {
    "IDENTITY_DATABASE_URL": (
        "SQLite in the data folder",
        "SQLAlchemy URL: postgresql+asyncpg://… or sqlite+aiosqlite:///…",
    ),
    "IDENTITY_GRPC_LISTEN": ("127.0.0.1:50051", "gRPC bind address"),
    "IDENTITY_ISSUER": ("http://127.0.0.1:8080", "`iss` of access tokens"),
    "IDENTITY_AUDIENCE": ("api", "default `aud` of access tokens"),
    "IDENTITY_SIGNING_ALG": ("ES256", "ES256, EdDSA or RS256"),
    "IDENTITY_ACCESS_TOKEN_TTL": ("600", "access token lifetime, seconds (60–3600)"),
    "IDENTITY_REFRESH_GRACE": ("30", "reuse grace window, seconds (0–300)"),
    "IDENTITY_MASTER_KEY": (
        "generated in dev mode only",
        "base64 of 32 bytes; encrypts signing keys and session secrets",
    ),
    "IDENTITY_DATA_DIR": (
        ".identity-dev",
        "data folder of `identity dev` (SQLite, master key, credentials)",
    ),
    "IDENTITY_SESSION_IDLE_TTL": (
        "1209600",
        "session idle lifetime, seconds (14 days); each rotation extends it",
    ),
    "IDENTITY_SESSION_ABSOLUTE_TTL": ("2592000", "session absolute lifetime, seconds (30 days)"),
    "IDENTITY_PASSWORD_MIN_LENGTH": (
        "15",
        "minimum password length (8–64); NIST SP 800-63B-4 wants 15",
    ),
    "IDENTITY_ARGON2_MEMORY_KIB": ("19456", "Argon2id memory cost, KiB (at least 19456)"),
    "IDENTITY_ARGON2_TIME_COST": ("2", "Argon2id iterations (at least 2)"),
    "IDENTITY_ARGON2_PARALLELISM": ("1", "Argon2id lanes"),
    "IDENTITY_HASH_WORKERS": ("number of cores", "concurrent password hashes"),
    "IDENTITY_HASH_PRIORITY": (
        "idle",
        "CPU priority of the hash threads: idle (only CPU nothing else wants) or low (nice +10)",
    ),
    "IDENTITY_REUSE_REVOKES_ALL": (
        "false",
        "on refresh token reuse, end every session of the user, not just the family",
    ),
    "IDENTITY_JWKS_MAX_AGE": (
        "300",
        "JWKS cache lifetime, seconds; a new key is published this long before it signs",
    ),
    "IDENTITY_KEY_ROTATION_DAYS": ("30", "scheduled signing-key rotation interval, days"),
    "IDENTITY_LEEWAY": ("30", "clock leeway for exp/nbf/iat, seconds (0–60)"),
    "IDENTITY_TLS_CERT": ("unset", "PEM certificate chain; with IDENTITY_TLS_KEY enables TLS"),
    "IDENTITY_TLS_KEY": ("unset", "PEM private key"),
    "IDENTITY_TLS_CLIENT_CA": (
        "unset",
        "PEM CA bundle; when set, clients need a certificate (mTLS)",
    ),
    "IDENTITY_ALLOW_PLAINTEXT_REMOTE": ("false", "allow plaintext gRPC on a non-loopback address"),
    "IDENTITY_MIGRATE": (
        "false (true in dev)",
        "migrate the schema to head at start instead of refusing",
    ),
    "IDENTITY_MAX_MESSAGE_BYTES": ("65536", "largest gRPC request accepted"),
    "IDENTITY_MAX_CONCURRENT_RPCS": (
        "1000",
        "RPCs served at once, open WatchRevocations streams included; beyond, RESOURCE_EXHAUSTED",
    ),
    "IDENTITY_METRICS_LISTEN": ("unset", "host:port for Prometheus /metrics; unset disables it"),
    "IDENTITY_LOG_LEVEL": ("INFO", "log level"),
    "IDENTITY_REVOCATION_HEARTBEAT": (
        "5",
        "seconds between WatchRevocations heartbeats on an idle stream (1–60)",
    ),
}


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}: not an integer") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name}: must be between {low} and {high}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: Sequence[str]) -> str:
    """The first choice is the default."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        raise ConfigurationError(f"{name}: one of {', '.join(choices)}")
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}: expected true or false")


@dataclass(frozen=True)
class Settings:
    database_url: str
    master_key: MasterKey = field(repr=False)
    grpc_listen: str = "127.0.0.1:50051"
    issuer: str = "http://127.0.0.1:8080"
    audience: str = "api"
    signing_alg: str = "ES256"
    access_token_ttl: timedelta = timedelta(seconds=600)
    refresh_grace: timedelta = timedelta(seconds=30)
    session_idle: timedelta = timedelta(days=14)
    session_absolute: timedelta = timedelta(days=30)
    password_min_length: int = 15
    argon2_memory_kib: int = MIN_MEMORY_KIB
    argon2_time_cost: int = MIN_TIME_COST
    argon2_parallelism: int = 1
    hash_workers: int = max(1, os.cpu_count() or 1)
    hash_priority: str = HASH_PRIORITIES[0]
    reuse_revokes_all: bool = False
    jwks_max_age: timedelta = timedelta(seconds=300)
    key_rotation_interval: timedelta = timedelta(days=30)
    leeway: timedelta = timedelta(seconds=30)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    allow_plaintext_remote: bool = False
    migrate: bool = False
    max_message_bytes: int = 65536
    max_concurrent_rpcs: int = 1000
    metrics_listen: str | None = None
    default_client_id: str = "spa"
    default_scope: str = "api"
    revocation_heartbeat: timedelta = timedelta(seconds=5)

    def __post_init__(self) -> None:
        if self.signing_alg not in SUPPORTED_ALGORITHMS:
            raise ConfigurationError(f"IDENTITY_SIGNING_ALG: one of {sorted(SUPPORTED_ALGORITHMS)}")
        if not self.issuer or not self.audience:
            raise ConfigurationError("IDENTITY_ISSUER and IDENTITY_AUDIENCE must not be empty")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError("IDENTITY_TLS_CERT and IDENTITY_TLS_KEY go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigurationError(
                "IDENTITY_TLS_CLIENT_CA needs IDENTITY_TLS_CERT and IDENTITY_TLS_KEY"
            )
        if self.metrics_listen is not None:
            host, _, port = self.metrics_listen.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ConfigurationError("IDENTITY_METRICS_LISTEN: expected host:port")
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
        url = env.get("IDENTITY_DATABASE_URL", "")
        master_text = env.get("IDENTITY_MASTER_KEY", "")
        if dev_data_dir is not None:
            dev_data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            url = url or f"sqlite+aiosqlite:///{(dev_data_dir / 'identity.db').resolve()}"
            master_text = master_text or dev_master_key(dev_data_dir)
        if not url:
            raise ConfigurationError("IDENTITY_DATABASE_URL: required outside `identity dev`")
        if not master_text:
            raise ConfigurationError(
                "IDENTITY_MASTER_KEY: required in production (base64 of 32 random bytes; "
                "for example: openssl rand -base64 32)"
            )

        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        return cls(
            database_url=url,
            master_key=MasterKey.from_base64(master_text),
            grpc_listen=env.get("IDENTITY_GRPC_LISTEN") or "127.0.0.1:50051",
            issuer=env.get("IDENTITY_ISSUER") or "http://127.0.0.1:8080",
            audience=env.get("IDENTITY_AUDIENCE") or "api",
            signing_alg=env.get("IDENTITY_SIGNING_ALG") or "ES256",
            access_token_ttl=timedelta(
                seconds=_int(env, "IDENTITY_ACCESS_TOKEN_TTL", 600, 60, 3600)
            ),
            refresh_grace=timedelta(seconds=_int(env, "IDENTITY_REFRESH_GRACE", 30, 0, 300)),
            session_idle=timedelta(
                seconds=_int(env, "IDENTITY_SESSION_IDLE_TTL", 14 * 86400, 60, 400 * 86400)
            ),
            session_absolute=timedelta(
                seconds=_int(env, "IDENTITY_SESSION_ABSOLUTE_TTL", 30 * 86400, 60, 400 * 86400)
            ),
            password_min_length=_int(env, "IDENTITY_PASSWORD_MIN_LENGTH", 15, 8, 64),
            argon2_memory_kib=_int(
                env, "IDENTITY_ARGON2_MEMORY_KIB", MIN_MEMORY_KIB, MIN_MEMORY_KIB, 4 * 1024 * 1024
            ),
            argon2_time_cost=_int(
                env, "IDENTITY_ARGON2_TIME_COST", MIN_TIME_COST, MIN_TIME_COST, 100
            ),
            argon2_parallelism=_int(env, "IDENTITY_ARGON2_PARALLELISM", 1, 1, 64),
            hash_workers=_int(env, "IDENTITY_HASH_WORKERS", max(1, os.cpu_count() or 1), 1, 256),
            hash_priority=_choice(env, "IDENTITY_HASH_PRIORITY", HASH_PRIORITIES),
            reuse_revokes_all=_bool(env, "IDENTITY_REUSE_REVOKES_ALL", False),
            jwks_max_age=timedelta(seconds=_int(env, "IDENTITY_JWKS_MAX_AGE", 300, 1, 86400)),
            key_rotation_interval=timedelta(
                days=_int(env, "IDENTITY_KEY_ROTATION_DAYS", 30, 1, 3650)
            ),
            leeway=timedelta(seconds=_int(env, "IDENTITY_LEEWAY", 30, 0, 60)),
            tls_cert=path("IDENTITY_TLS_CERT"),
            tls_key=path("IDENTITY_TLS_KEY"),
            tls_client_ca=path("IDENTITY_TLS_CLIENT_CA"),
            allow_plaintext_remote=_bool(env, "IDENTITY_ALLOW_PLAINTEXT_REMOTE", False),
            migrate=_bool(env, "IDENTITY_MIGRATE", dev_data_dir is not None),
            max_message_bytes=_int(env, "IDENTITY_MAX_MESSAGE_BYTES", 65536, 4096, 4 * 1024 * 1024),
            max_concurrent_rpcs=_int(env, "IDENTITY_MAX_CONCURRENT_RPCS", 1000, 4, 100_000),
            metrics_listen=env.get("IDENTITY_METRICS_LISTEN") or None,
            revocation_heartbeat=timedelta(
                seconds=_int(env, "IDENTITY_REVOCATION_HEARTBEAT", 5, 1, 60)
            ),
        )

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "master_key":
                shown.append("master_key=***")
            elif f.name == "database_url":
                shown.append(f"database_url={redact_url(value)!r}")
            else:
                shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"


def is_loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def dev_master_key(data_dir: Path) -> str:
    """The dev master key, made once into a 0600 file of the data folder."""
    path = data_dir / "master.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(MasterKey.generate_base64() + "\n")
    return path.read_text().strip()
