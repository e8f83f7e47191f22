"""Fixtures for identity.verify: real keys, a real JWKS server on port 0, and token minting."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from jwt.algorithms import get_default_algorithms

import identity.verify.verifier as verifier_module
from identity.domain.clock import FixedClock
from identity.domain.jose import PrivateKey
from identity.domain.keys import KeyRecord, KeyState, create_key, load_private_key
from identity.domain.master_key import MasterKey
from identity.verify import Verifier

ISSUER = "https://id.example.test"
AUDIENCE = "api"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
MASTER = MasterKey(os.urandom(32))


@dataclass(frozen=True)
class SigningKey:
    record: KeyRecord
    private: PrivateKey

    @property
    def kid(self) -> str:
        return self.record.kid

    @property
    def alg(self) -> str:
        return self.record.alg

    @property
    def jwk(self) -> dict[str, Any]:
        return dict(self.record.public_jwk)


def new_signing_key(alg: str, state: KeyState = KeyState.CURRENT) -> SigningKey:
    record = create_key(alg, MASTER, NOW, state, NOW)
    return SigningKey(record, load_private_key(record, MASTER))


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64_json(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")))


DROP = object()  # a header value meaning "leave this member out"


class Tokens:
    """Builds claims and tokens, well-formed or forged, the way an attacker would."""

    issuer = ISSUER
    audience = AUDIENCE
    now = NOW
    new_key = staticmethod(new_signing_key)
    b64 = staticmethod(b64)
    b64_json = staticmethod(b64_json)
    drop = DROP

    def claims(self, **overrides: Any) -> dict[str, Any]:
        start = int(NOW.timestamp())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": "user-1",
            "aud": AUDIENCE,
            "exp": start + 600,
            "iat": start,
            "nbf": start,
            "jti": "jti-" + b64(os.urandom(9)),
            "sid": "sid-1",
            "client_id": "web",
            "scope": "orders:read",
        }
        claims.update(overrides)
        return claims

    def header(self, key: SigningKey, **overrides: Any) -> dict[str, Any]:
        header: dict[str, Any] = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
        header.update(overrides)
        return {name: value for name, value in header.items() if value is not DROP}

    def sign(self, key: SigningKey, claims: dict[str, Any] | None = None, **header: Any) -> str:
        """A token signed by `key` with the algorithm `sign_alg` (default the key's own)."""
        sign_alg = header.pop("sign_alg", key.alg)
        return self.forge(
            self.header(key, **header),
            self.claims() if claims is None else claims,
            sign_alg,
            key.private,
        )

    def forge(self, header: dict[str, Any], payload: Any, sign_alg: str | None, key: Any) -> str:
        """Encode `header`.`payload` and sign it with `sign_alg` (None: empty signature)."""
        signing_input = f"{b64_json(header)}.{b64_json(payload)}"
        if sign_alg is None:
            return signing_input + "."
        algorithm = get_default_algorithms()[sign_alg]
        signature = algorithm.sign(signing_input.encode(), algorithm.prepare_key(key))
        return f"{signing_input}.{b64(signature)}"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up is expected here, not a failure


class JwksServer:
    """A real HTTP server on port 0 serving a JWK Set; it counts requests and can misbehave."""

    def __init__(self) -> None:
        self.document: Any = {"keys": []}
        self.status = 200
        self.delay = 0.0
        self.cache_control = "public, max-age=300"
        self.use_etag = False
        self.requests = 0
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with server._lock:
                    server.requests += 1
                    server.paths.append(self.path)
                if server.delay:
                    server._release.wait(server.delay)
                body = server.body()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                try:
                    if server.use_etag and self.headers.get("if-none-match") == etag:
                        self.send_response(304)
                        self.send_header("etag", etag)
                        self.send_header("cache-control", server.cache_control)
                        self.end_headers()
                        return
                    self.send_response(server.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.send_header("cache-control", server.cache_control)
                    if server.use_etag:
                        self.send_header("etag", etag)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/.well-known/jwks.json"

    def body(self) -> bytes:
        if self.status != 200:
            return b'{"error": "server_error"}'
        if isinstance(self.document, bytes):
            return self.document
        return json.dumps(self.document).encode()

    def publish(self, *keys: SigningKey | dict[str, Any]) -> None:
        self.document = {"keys": [k.jwk if isinstance(k, SigningKey) else k for k in keys]}

    def start(self) -> JwksServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@pytest.fixture(scope="session")
def keys() -> dict[str, SigningKey]:
    return {alg: new_signing_key(alg) for alg in ("ES256", "EdDSA", "RS256")}


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def jwks_server(keys: dict[str, SigningKey]) -> Iterator[JwksServer]:
    server = JwksServer()
    server.publish(*keys.values())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_server() -> Iterator[Callable[[], JwksServer]]:
    """Start more servers (an attacker's listener, a second identity); all stop at teardown."""
    started: list[JwksServer] = []

    def start() -> JwksServer:
        server = JwksServer().start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def make_verifier(jwks_server: JwksServer, clock: FixedClock) -> Callable[..., Verifier]:
    def make(**options: Any) -> Verifier:
        options.setdefault("issuer", ISSUER)
        options.setdefault("audience", AUDIENCE)
        options.setdefault("clock", clock)
        options.setdefault("fetch_timeout", 2.0)
        if "jwks_source" not in options:
            options.setdefault("jwks_url", jwks_server.url)
        return Verifier(**options)

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., Verifier]) -> Verifier:
    return make_verifier()


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts full checks (signature included) the verifier runs."""
    seen: list[str] = []
    real = verifier_module.check_active

    def counting(token: Any, *args: Any) -> Any:
        seen.append(token)
        return real(token, *args)

    monkeypatch.setattr(verifier_module, "check_active", counting)
    return seen
