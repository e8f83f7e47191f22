"""Settings of the HTTP edge, read once from `EDGE_*` environment variables (DESIGN §11)."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "0.0.0.0", "::1", "::", "[::1]", "[::]"})


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


def split_host_port(value: str, variable: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:port`) -> (host, port), refusing anything else."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{variable} must look like host:port, got {value!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"{variable}: port {port} is out of range 0-65535")
    return host.strip("[]") if host.startswith("[") else host, port


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


def _parse_networks(text: str, variable: str) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{variable}: {item!r} is not an IP address or CIDR") from exc
    return tuple(networks)


def _int(environ: Mapping[str, str], variable: str, default: int) -> int:
    text = environ.get(variable, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise ValueError(f"{variable} must be an integer, got {text!r}") from exc


def _float(environ: Mapping[str, str], variable: str, default: float) -> float:
    text = environ.get(variable, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError as exc:
        raise ValueError(f"{variable} must be a number, got {text!r}") from exc


def _credential(environ: Mapping[str, str]) -> Secret | None:
    inline = environ.get("EDGE_IDENTITY_CREDENTIAL", "").strip()
    path = environ.get("EDGE_IDENTITY_CREDENTIAL_FILE", "").strip()
    if inline and path:
        raise ValueError("set EDGE_IDENTITY_CREDENTIAL or EDGE_IDENTITY_CREDENTIAL_FILE, not both")
    if path:
        try:
            inline = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"EDGE_IDENTITY_CREDENTIAL_FILE: cannot read {path!r}") from exc
        if not inline:
            raise ValueError(f"EDGE_IDENTITY_CREDENTIAL_FILE: {path!r} is empty")
    return Secret(inline) if inline else None


@dataclass(frozen=True)
class EdgeSettings:
    """Every setting of the edge; `from_env` documents the variable behind each field."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    identity_target: str = "127.0.0.1:50051"
    # Empty means the edge's own origin (see `default_origins`).
    allowed_origins: tuple[str, ...] = ()
    identity_credential: Secret | None = None
    trusted_proxies: tuple[IPNetwork, ...] = ()
    max_body_bytes: int = 16384
    grpc_deadline_seconds: float = 5.0
    issuer: str = "http://127.0.0.1:8080"
    audience: str = "api"
    # Optional TLS towards identity: a CA bundle, plus a client certificate for mutual TLS.
    identity_ca_file: str | None = None
    identity_cert_file: str | None = None
    identity_key_file: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.listen_port <= 65535:
            raise ValueError(f"EDGE_LISTEN: port {self.listen_port} is out of range 0-65535")
        if not self.identity_target.strip():
            raise ValueError("EDGE_IDENTITY_TARGET must not be empty")
        if not 1024 <= self.max_body_bytes <= 1_048_576:
            raise ValueError("EDGE_MAX_BODY_BYTES must be between 1024 and 1048576")
        deadline = self.grpc_deadline_seconds
        if not math.isfinite(deadline) or not 0.05 <= deadline <= 60:
            raise ValueError("EDGE_GRPC_DEADLINE_SECONDS must be between 0.05 and 60")
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
        host, port = split_host_port(environ.get("EDGE_LISTEN") or "127.0.0.1:8080", "EDGE_LISTEN")
        origins_text = environ.get("EDGE_ALLOWED_ORIGINS", "")
        origins = tuple(o for o in (p.strip() for p in origins_text.split(",")) if o)
        return cls(
            listen_host=host,
            listen_port=port,
            identity_target=environ.get("EDGE_IDENTITY_TARGET") or "127.0.0.1:50051",
            allowed_origins=origins,
            identity_credential=_credential(environ),
            trusted_proxies=_parse_networks(
                environ.get("EDGE_TRUSTED_PROXIES", ""), "EDGE_TRUSTED_PROXIES"
            ),
            max_body_bytes=_int(environ, "EDGE_MAX_BODY_BYTES", 16384),
            grpc_deadline_seconds=_float(environ, "EDGE_GRPC_DEADLINE_SECONDS", 5.0),
            issuer=environ.get("EDGE_ISSUER")
            or environ.get("IDENTITY_ISSUER")
            or "http://127.0.0.1:8080",
            audience=environ.get("EDGE_AUDIENCE") or environ.get("IDENTITY_AUDIENCE") or "api",
            identity_ca_file=environ.get("EDGE_IDENTITY_CA_FILE") or None,
            identity_cert_file=environ.get("EDGE_IDENTITY_CERT_FILE") or None,
            identity_key_file=environ.get("EDGE_IDENTITY_KEY_FILE") or None,
        )
