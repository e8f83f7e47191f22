"""Settings of the HTTP edge, read once from `EDGE_*` environment variables (DESIGN §11)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from edge_http.http_limits import (
    DEFAULT_HEAD_TIMEOUT,
    DEFAULT_MAX_HEAD_BYTES,
    default_max_connections,
)
from identity.config import VARIABLES as IDENTITY_VARIABLES
from identity.config_schema import (
    HOST_PORT,
    INTEGER,
    LIST,
    NETWORKS,
    NUMBER,
    PATH,
    TEXT,
    IPNetwork,
    Variable,
    check_fields,
    declared,
    optional,
    read_fields,
    setting,
)

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "0.0.0.0", "::1", "::", "[::1]", "[::]"})


def _identity_default(name: str) -> Any:
    """Identity's own default: by default the edge finds identity, and accepts its tokens."""
    return next(variable.default for variable in IDENTITY_VARIABLES if variable.name == name)


# Read apart from the fields they feed (EdgeSettings.from_env, edge_http/cli.py).
_DEFAULT_LISTEN = ("127.0.0.1", 8080)
LISTEN = Variable("EDGE_LISTEN", HOST_PORT, _DEFAULT_LISTEN, "bind address")
CREDENTIAL = Variable(
    "EDGE_IDENTITY_CREDENTIAL",
    TEXT,
    None,
    "the edge's service credential (role `edge`); it or the file is required",
    default_doc="—",
)
CREDENTIAL_FILE = Variable(
    "EDGE_IDENTITY_CREDENTIAL_FILE",
    PATH,
    None,
    "a file holding the edge's service credential, instead of `EDGE_IDENTITY_CREDENTIAL`",
    default_doc="—",
)
LOG_LEVEL = Variable("EDGE_LOG_LEVEL", TEXT, "INFO", "log level of `edge-http serve`")
WORKERS = Variable(
    "EDGE_WORKERS",
    INTEGER,
    None,
    "processes `edge-http serve` runs on the one port (SO_REUSEPORT), each with its own event loop"
    " and identity channel; the connection limit applies to each; `--workers` overrides it",
    low=1,
    high=256,
    default_doc="one per core",
)


class Secret:
    """A secret string whose `repr` never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def normalise_origin(value: str, variable: str = "EDGE_ALLOWED_ORIGINS") -> str:
    """`scheme://host[:port]` as browsers send it in `Origin`: lower case, no default port."""
    text = value.strip()
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
        or "*" in text
    ):
        raise ValueError(f"{variable}: {value!r} is not an origin like https://app.example.com")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{variable}: {value!r} has an invalid port") from exc
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    suffix = "" if port in (None, default_port) else f":{port}"
    return f"{parts.scheme}://{host}{suffix}"


def default_origins(host: str, port: int) -> tuple[str, ...]:
    """The edge's own origin; on loopback both the `127.0.0.1` and `localhost` spellings."""
    suffix = "" if port == 80 else f":{port}"
    if host in _LOOPBACK_HOSTS:
        return (f"http://127.0.0.1{suffix}", f"http://localhost{suffix}")
    shown = f"[{host}]" if ":" in host else host
    return (normalise_origin(f"http://{shown}{suffix}", "EDGE_LISTEN"),)


def _credential(environ: Mapping[str, str]) -> Secret | None:
    inline = (CREDENTIAL.read(environ) or "").strip()
    path = CREDENTIAL_FILE.read(environ)
    if inline and path:
        raise ValueError("set EDGE_IDENTITY_CREDENTIAL or EDGE_IDENTITY_CREDENTIAL_FILE, not both")
    if path:
        try:
            inline = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"EDGE_IDENTITY_CREDENTIAL_FILE: cannot read {str(path)!r}") from exc
        if not inline:
            raise ValueError(f"EDGE_IDENTITY_CREDENTIAL_FILE: {str(path)!r} is empty")
    return Secret(inline) if inline else None


@dataclass(frozen=True)
class EdgeSettings:
    """Every setting of the edge, each declared once: variable, default, range, README line."""

    listen_host: str = _DEFAULT_LISTEN[0]  # EDGE_LISTEN
    listen_port: int = _DEFAULT_LISTEN[1]
    identity_target: str = setting(
        "EDGE_IDENTITY_TARGET",
        TEXT,
        _identity_default("IDENTITY_GRPC_LISTEN"),
        "gRPC target of identity (`dns:///` names balance round-robin)",
    )
    # Empty means the edge's own origin (see `default_origins`).
    allowed_origins: tuple[str, ...] = setting(
        "EDGE_ALLOWED_ORIGINS",
        LIST,
        (),
        "origins allowed by CORS and the `Origin` checks, compared exactly",
        default_doc="the edge's own origin (`http://127.0.0.1:<port>` and "
        "`http://localhost:<port>` on loopback)",
    )
    identity_credential: Secret | None = None
    trusted_proxies: tuple[IPNetwork, ...] = setting(
        "EDGE_TRUSTED_PROXIES",
        NETWORKS,
        (),
        "proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed",
        default_doc="none",
    )
    max_body_bytes: int = setting(
        "EDGE_MAX_BODY_BYTES",
        INTEGER,
        16384,
        "request body limit, enforced while reading",
        low=1024,
        high=1_048_576,
    )
    # Limits on request heads and connections (edge_http/http_limits.py says why each exists).
    max_head_bytes: int = setting(
        "EDGE_MAX_HEADER_BYTES",
        INTEGER,
        DEFAULT_MAX_HEAD_BYTES,
        "request line + headers limit; over it 431 and the connection closed",
        low=4096,
        high=1_048_576,
    )
    head_timeout_seconds: float = setting(
        "EDGE_HEADER_TIMEOUT_SECONDS",
        NUMBER,
        DEFAULT_HEAD_TIMEOUT,
        "time a connection has to send a complete request head, seconds; then 408 and closed",
        low=0.5,
        high=300,
    )
    max_connections: int = setting(
        "EDGE_MAX_CONNECTIONS",
        INTEGER,
        default_max_connections(),
        "open connections at once; the next is answered 503 with `Retry-After` and closed",
        default_doc="¾ of the file-descriptor limit (`ulimit -n`), at most that limit − 128",
        low=1,
        high=1_000_000,
    )
    identity_connections: int = setting(
        "EDGE_IDENTITY_CONNECTIONS",
        INTEGER,
        4,
        "connections to each identity address, calls spread over them in turn: the kernel gives"
        " each connection to one of identity's worker processes (`identity serve --workers`)",
        low=1,
        high=64,
    )
    grpc_deadline_seconds: float = setting(
        "EDGE_GRPC_DEADLINE_SECONDS",
        NUMBER,
        5.0,
        "deadline of every call to identity, seconds",
        low=0.05,
        high=60,
    )
    issuer: str = setting(
        "EDGE_ISSUER",
        TEXT,
        _identity_default("IDENTITY_ISSUER"),
        "`iss` that `/api/me` requires",
        fallback="IDENTITY_ISSUER",
    )
    audience: str = setting(
        "EDGE_AUDIENCE",
        TEXT,
        _identity_default("IDENTITY_AUDIENCE"),
        "`aud` that `/api/me` requires",
        fallback="IDENTITY_AUDIENCE",
    )
    # Optional TLS towards identity: a CA bundle, plus a client certificate for mutual TLS.
    identity_ca_file: str | None = optional(
        "EDGE_IDENTITY_CA_FILE",
        TEXT,
        "CA bundle: TLS towards identity",
        default_doc="plaintext",
    )
    identity_cert_file: str | None = optional(
        "EDGE_IDENTITY_CERT_FILE",
        TEXT,
        "client certificate for mutual TLS towards identity (with the CA bundle)",
    )
    identity_key_file: str | None = optional(
        "EDGE_IDENTITY_KEY_FILE", TEXT, "private key of that client certificate"
    )

    def __post_init__(self) -> None:
        LISTEN.check((self.listen_host, self.listen_port))
        check_fields(self)
        if not self.identity_target.strip():
            raise ValueError("EDGE_IDENTITY_TARGET must not be empty")
        if not self.issuer or not self.audience:
            raise ValueError("EDGE_ISSUER and EDGE_AUDIENCE must not be empty")
        if (self.identity_cert_file is None) != (self.identity_key_file is None):
            raise ValueError("set both EDGE_IDENTITY_CERT_FILE and EDGE_IDENTITY_KEY_FILE, or none")
        if self.identity_cert_file and not self.identity_ca_file:
            raise ValueError("EDGE_IDENTITY_CERT_FILE needs EDGE_IDENTITY_CA_FILE")
        origins = self.allowed_origins or default_origins(self.listen_host, self.listen_port)
        object.__setattr__(self, "allowed_origins", tuple(normalise_origin(o) for o in origins))

    @property
    def listen(self) -> str:
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{host}:{self.listen_port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> EdgeSettings:
        host, port = LISTEN.value(environ)
        return cls(
            listen_host=host,
            listen_port=port,
            identity_credential=_credential(environ),
            **read_fields(cls, environ),
        )


# The README's edge configuration table lists these, in this order (tests/test_readme.py).
VARIABLES: tuple[Variable[Any], ...] = (
    LISTEN,
    CREDENTIAL,
    CREDENTIAL_FILE,
    *(variable for _, variable in declared(EdgeSettings)),
    WORKERS,
    LOG_LEVEL,
)
