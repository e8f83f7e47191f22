"""Calls of the lifecycle RPCs, and reading raw rows, for the lifecycle tests."""

from __future__ import annotations

from sqlalchemy import text

from identity.v1 import identity_pb2 as pb
from tests.conftest import Running, remember
from tests.mail import MailCatcher

NEW_PASSWORD = "a brand new passphrase for this account"
remember(NEW_PASSWORD)


async def register(s: Running, email: str, password: str) -> pb.RegisterResponse:
    remember(password)
    request = pb.RegisterRequest(email=email, password=password)
    return await s.stub.Register(request, metadata=s.md())


async def request_reset(s: Running, email: str, **md: str) -> None:
    request = pb.RequestPasswordResetRequest(email=email)
    await s.stub.RequestPasswordReset(request, metadata=s.md(**md))


async def reset_link(s: Running, catcher: MailCatcher, email: str) -> str:
    """Ask for a reset and return the token of the link that arrives."""
    before = len(catcher.to(email))
    await request_reset(s, email)
    route, token = (await catcher.wait(email, "reset your password", after=before)).link()
    assert route == "reset-password" and token.startswith("idpr_")
    return token


async def reset_password(s: Running, token: str, password: str = NEW_PASSWORD) -> None:
    remember(password)
    request = pb.ResetPasswordRequest(token=token, new_password=password)
    await s.stub.ResetPassword(request, metadata=s.md())


async def row_counts(s: Running) -> dict[str, int]:
    async with s.app.engine.connect() as conn:
        return {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in ("users", "link_tokens", "mail_outbox", "sessions")
        }
