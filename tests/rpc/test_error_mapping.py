"""GA-08: one table maps each domain error to its status; a lost database is UNAVAILABLE."""

from __future__ import annotations

import asyncpg
import grpc
import sqlalchemy as sa

import identity.domain.errors as errors
from identity.logs import JsonFormatter
from identity.rpc.errors import STATUS, status_for
from identity.v1 import identity_pb2 as pb
from identity.wire import MD_ERROR_CODE
from tests.conftest import PASSWORD
from tests.helpers import error_of

EXPECTED = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.WeakPassword: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.InvalidCredentials: grpc.StatusCode.UNAUTHENTICATED,
    errors.InvalidRefreshToken: grpc.StatusCode.UNAUTHENTICATED,
    errors.RefreshTokenReused: grpc.StatusCode.UNAUTHENTICATED,
    errors.InvalidAccessToken: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def _instance(cls):
    if issubclass(cls, errors.RateLimited):
        return cls(retry_after=1)
    if issubclass(cls, errors.StepUpRequired):
        return cls(acr="aal2", max_age=300)
    return cls()


def test_every_domain_error_has_its_documented_status():
    for cls, code in EXPECTED.items():
        assert status_for(_instance(cls)) == code, cls
    for cls in _all_subclasses(errors.IdentityError):
        assert status_for(_instance(cls)) != grpc.StatusCode.INTERNAL, f"{cls.__name__} is unmapped"
    assert STATUS[errors.IdentityError] == grpc.StatusCode.INTERNAL


async def test_a_database_that_goes_away_gives_unavailable_and_recovers(
    start_identity, pg, unique_email
):
    s = await start_identity("postgres")
    name = s.app.settings.database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(pg.dsn)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        error = await error_of(
            s.stub.Login(pb.LoginRequest(email=unique_email(), password=PASSWORD), metadata=s.md())
        )
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details() == "service temporarily unavailable"
        # Key material and the JWKS are in memory: the public endpoint keeps answering.
        await s.stub.GetJwks(pb.GetJwksRequest())
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    await s.stub.Register(
        pb.RegisterRequest(email=unique_email(), password=PASSWORD), metadata=s.md()
    )


async def test_an_unexpected_database_error_is_internal_says_nothing_and_writes_nothing(
    start_identity, unique_email, caplog
):
    """GA-08 / SL-05 with a real fault, not a mock: the schema drifts under a running server (a
    column renamed), so registering fails inside its transaction with an error nobody mapped.
    The caller gets INTERNAL and the fixed text only (no SQL, table, column or driver name);
    the log gets the exception's type, never its text; the half-done registration (the user
    row before the failed audit insert) is rolled back."""
    s = await start_identity("postgres")
    email = unique_email()
    async with s.app.engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE audit_events RENAME COLUMN kind TO kind_gone"))

    register = pb.RegisterRequest(email=email, password=PASSWORD)
    error = await error_of(s.stub.Register(register, metadata=s.md()))

    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "internal error"
    trailing = {k: v for k, v in (error.trailing_metadata() or ())}
    for text in (error.details(), error.debug_error_string(), repr(trailing)):
        for clue in ("audit", "kind", "column", "INSERT", "asyncpg", "sqlalchemy", "/", email):
            assert clue not in text, (clue, text)
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "identity.rpc.errors"]
    assert len(lines) == 1 and '"error": "ProgrammingError"' in lines[0], lines
    assert "kind" not in lines[0] and email not in lines[0]

    async with s.app.engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE audit_events RENAME COLUMN kind_gone TO kind"))
    await s.stub.Register(register, metadata=s.md())  # not "already registered": rolled back


def _code_of(error: grpc.aio.AioRpcError) -> str | None:
    return dict(error.trailing_metadata() or ()).get(MD_ERROR_CODE)


async def test_every_refusal_names_its_error_code_beside_the_status(identity_server, unique_email):
    """Callers tell refusals of one status apart by identity.wire.MD_ERROR_CODE, never by the
    text: two INVALID_ARGUMENTs and two UNAUTHENTICATEDs, each with its own code."""
    s, md = identity_server, identity_server.md("edge")
    weak = await error_of(
        s.stub.Register(pb.RegisterRequest(email=unique_email(), password="short"), metadata=md)
    )
    bad_link = await error_of(
        s.stub.VerifyEmail(pb.VerifyEmailRequest(token="idev_" + "A" * 43), metadata=md)
    )
    wrong = await error_of(
        s.stub.Login(pb.LoginRequest(email=unique_email(), password=PASSWORD), metadata=md)
    )
    bad_token = await error_of(
        s.stub.ListMySessions(pb.ListMySessionsRequest(access_token="x.y.z"), metadata=md)
    )
    assert weak.code() == bad_link.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert wrong.code() == bad_token.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (_code_of(weak), _code_of(bad_link)) == ("weak_password", "invalid_link_token")
    assert _code_of(wrong) == "invalid_credentials"
    assert _code_of(bad_token) == "malformed_token"
