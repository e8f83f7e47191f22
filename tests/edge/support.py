"""Running the edge on a real port (uvicorn in a thread) and talking to it like a browser would."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge_http.app import create_app
from edge_http.config import EdgeSettings
from edge_http.identity_client import IdentityClient
from edge_http.server import build_server
from identity.verify import Verifier
from tests.conftest import ERROR_CAPTURE, PASSWORD, Running, remember

COOKIE = "__Secure-refresh_token"
HINT = "refresh_hint"
CSRF = {"X-Requested-With": "auth-client"}


@dataclass
class Edge:
    url: str
    settings: EdgeSettings
    client: httpx.AsyncClient
    client_ip: str

    @property
    def origin(self) -> str:
        return self.url


def edge_settings(identity: Running, port: int, **env: str) -> EdgeSettings:
    base = {
        "EDGE_LISTEN": f"127.0.0.1:{port}",
        "EDGE_IDENTITY_TARGET": identity.target,
        "EDGE_IDENTITY_CREDENTIAL": identity.credentials["edge"],
        "EDGE_ISSUER": identity.app.settings.issuer,
        "EDGE_AUDIENCE": identity.app.settings.audience,
        "EDGE_GRPC_DEADLINE_SECONDS": "5",
        # Tests reach the edge from 127.0.0.1, which stands in for a trusted proxy: each edge's
        # client gets its own X-Forwarded-For address, so identity's per-IP throttle buckets
        # do not fill up across tests.
        "EDGE_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    return EdgeSettings.from_env({**base, **env})


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _readable(headers: list[tuple[bytes, bytes]], body: bytes) -> str:
    """An answer as text for the secret scan: headers, body, and a JSON body's strings unescaped
    (the edge writes `\\u00e9` and `\\"`, which would hide a secret from a plain search)."""
    lines = [f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in headers]
    text = body.decode("utf-8", "replace")
    try:
        lines += _strings(json.loads(text))
    except (ValueError, RecursionError):
        pass
    return "\n".join([*lines, text])


class RecordErrorAnswers:
    """Wraps the edge under test: each non-2xx answer (headers and body) goes to ERROR_CAPTURE,
    which the run's last test scans for every password and token the tests saw."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        body = bytearray()

        async def send_and_record(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            ERROR_CAPTURE.saw(None if 200 <= status < 300 else _readable(headers, bytes(body)))


def listening_socket() -> socket.socket:
    """A bound socket on 127.0.0.1:<free port> for an edge to serve on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it; without it Nagle + delayed ACK add 40 ms to every answer.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def edge_thread(
    sock: socket.socket, settings: EdgeSettings, app: ASGIApp
) -> AsyncIterator[str]:
    """Serve `app` on `sock` in its own thread and event loop, like production; yields its URL.
    Every non-2xx answer is recorded for the run's secret scan."""
    server = build_server(settings, RecordErrorAnswers(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the edge did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 15)
        sock.close()


@asynccontextmanager
async def edge_client(target: str, credential: str, **env: str) -> AsyncIterator[httpx.AsyncClient]:
    """An edge on a real port over the identity process(es) at `target` (a gRPC target; a list
    of addresses is balanced round-robin), and an HTTP client of it."""
    sock = listening_socket()
    settings = EdgeSettings.from_env(
        {
            "EDGE_LISTEN": f"127.0.0.1:{sock.getsockname()[1]}",
            "EDGE_IDENTITY_TARGET": target,
            "EDGE_IDENTITY_CREDENTIAL": credential,
            "EDGE_GRPC_DEADLINE_SECONDS": "5",
            "EDGE_TRUSTED_PROXIES": "127.0.0.1/32",
            **env,
        }
    )
    async with edge_thread(sock, settings, create_app(settings, IdentityClient(settings))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            yield client


@asynccontextmanager
async def running_edge(
    identity: Running,
    verifier: Verifier | None = None,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
    **env: str,
) -> AsyncIterator[Edge]:
    """The edge on 127.0.0.1:<free port>, in front of `identity`; `wrap` may put more in front
    of it on the same origin (an SPA's files, as a reverse proxy would)."""
    sock = listening_socket()
    settings = edge_settings(identity, sock.getsockname()[1], **env)
    app: ASGIApp = create_app(settings, IdentityClient(settings), verifier=verifier)
    if wrap is not None:
        app = wrap(app)
    async with edge_thread(sock, settings, app) as url:
        # The left hop is what a client could write itself; the edge takes the right one.
        client_ip = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"
        headers = {"X-Forwarded-For": f"192.0.2.66, {client_ip}"}
        async with httpx.AsyncClient(base_url=url, timeout=20, headers=headers) as client:
            yield Edge(url, settings, client, client_ip)


def _hint_for(refresh_line: str) -> str:
    """The hint line that must accompany a refresh cookie line: set or cleared with it, same
    lifetime, readable by scripts on every path, never a secret."""
    value = refresh_line.split(";", 1)[0].partition("=")[2]
    max_age = refresh_line.rpartition("; Max-Age=")[2]
    hint = "1" if value else ""
    return f"{HINT}={hint}; Secure; SameSite=Strict; Path=/; Max-Age={max_age}"


def set_cookies(response: httpx.Response) -> list[str]:
    """The refresh cookie's Set-Cookie lines. Checks on every call that each comes with exactly
    its hint line (and that nothing else is set)."""
    lines = response.headers.get_list("set-cookie")
    refresh = [line for line in lines if line.startswith(f"{COOKIE}=")]
    hints = [line for line in lines if line.startswith(f"{HINT}=")]
    assert len(refresh) + len(hints) == len(lines), lines
    assert hints == [_hint_for(line) for line in refresh], lines
    return refresh


def refresh_cookie(response: httpx.Response) -> str:
    """The value of the one refresh cookie the response sets (asserting there is exactly one)."""
    (header,) = set_cookies(response)
    name, _, rest = header.partition("=")
    assert name == COOKIE
    value = rest.split(";", 1)[0]
    remember(value)
    return value


def cookie_header(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={token}"}


def tokens_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    remember(body.get("access_token", ""))
    return dict(body)


async def register_and_login(
    edge: Edge, email: str, password: str = PASSWORD, headers: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """(access token, refresh cookie value) of a new user's first session."""
    remember(password)
    created = await edge.client.post("/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    return await login(edge, email, password, headers)


async def login(
    edge: Edge, email: str, password: str = PASSWORD, headers: Mapping[str, str] | None = None
) -> tuple[str, str]:
    response = await edge.client.post(
        "/auth/login", json={"email": email, "password": password}, headers=dict(headers or {})
    )
    assert response.status_code == 200, response.text
    return tokens_of(response)["access_token"], refresh_cookie(response)


async def refresh(edge: Edge, token: str, **headers: str) -> httpx.Response:
    return await edge.client.post(
        "/auth/refresh", headers={**CSRF, **cookie_header(token), **headers}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
