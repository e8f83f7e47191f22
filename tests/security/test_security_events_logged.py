"""SL-07: security events reach the log as they happen, with ids only and UTC timestamps.

Each event below is caused through the real gRPC interface of an in-process identity; the test
reads the records its loggers emitted and formats them with the production JsonFormatter, so a
field the formatter would drop (anything outside its allow-list) does not count as logged."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import grpc
import pytest

from identity.domain.clock import FixedClock
from identity.logs import JsonFormatter
from identity.v1 import admin_pb2 as apb
from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD
from tests.helpers import change_password, login, refresh, register_and_login, status_of
from tests.introspection.support import claims_of

WRONG = "not the password at all, sorry"


class Lines:
    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog
        self._formatter = JsonFormatter()

    def all(self) -> list[dict[str, Any]]:
        return [
            json.loads(self._formatter.format(r))
            for r in self._caplog.records
            if r.name.startswith("identity")
        ]

    def one(self, msg: str, **fields: Any) -> dict[str, Any]:
        """The single line with this message and these field values."""
        found = [
            line
            for line in self.all()
            if line["msg"] == msg and all(line.get(k) == v for k, v in fields.items())
        ]
        assert len(found) == 1, f"{msg} {fields}: {len(found)} lines, in {self.all()}"
        return found[0]


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Lines:
    caplog.set_level(logging.INFO, logger="identity")
    return Lines(caplog)


async def test_logins_refreshes_and_revocations_are_logged_with_ids(
    identity_server, unique_email, lines: Lines
):
    s = identity_server
    email = unique_email()
    first = await register_and_login(s, email)
    user = first.user_id
    lines.one("login succeeded", user_id=user, sid=first.session_id)

    bad = s.stub.Login(pb.LoginRequest(email=email, password=WRONG), metadata=s.md())
    assert await status_of(bad) == grpc.StatusCode.UNAUTHENTICATED
    lines.one("login failed", user_id=user, cause="wrong_password")
    nobody = s.stub.Login(pb.LoginRequest(email=unique_email(), password=WRONG), metadata=s.md())
    assert await status_of(nobody) == grpc.StatusCode.UNAUTHENTICATED
    lines.one("login failed", user_id=None, cause="unknown_email")

    second = await refresh(s, first.refresh_token)
    lines.one("refresh rotated", sid=first.session_id)
    await refresh(s, second.refresh_token)
    stale = s.stub.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token), metadata=s.md())
    assert await status_of(stale) == grpc.StatusCode.UNAUTHENTICATED
    lines.one("refresh token reuse", sid=first.session_id)
    lines.one("revoked: session", sid=first.session_id, reason="refresh_token_reuse")
    again = s.stub.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token), metadata=s.md())
    assert await status_of(again) == grpc.StatusCode.UNAUTHENTICATED
    lines.one("refresh refused", sid=first.session_id, cause="session_ended")

    other = await login(s, email)
    await s.stub.Logout(pb.LogoutRequest(refresh_token=other.refresh_token), metadata=s.md())
    lines.one("revoked: session", sid=other.session_id, user_id=user, reason="logout")

    third = await login(s, email)
    jti = claims_of(third.access_token)["jti"]
    await s.admin_stub.RevokeAccessToken(
        apb.RevokeAccessTokenRequest(jti=jti, reason="leaked"), metadata=s.md("admin")
    )
    lines.one("revoked: access_token", jti=jti, reason="admin")

    assert_ids_only(lines.all(), secrets=[email, PASSWORD, WRONG, first.refresh_token])


async def test_password_changes_and_throttling_are_logged(
    identity_server, unique_email, lines: Lines
):
    s = identity_server
    email = unique_email()
    mine = await register_and_login(s, email)
    user = mine.user_id

    def change(current: str) -> Any:
        return change_password(s, mine.access_token, current)

    assert await status_of(change(WRONG)) == grpc.StatusCode.UNAUTHENTICATED
    lines.one("password change failed", user_id=user)
    await change(PASSWORD)
    lines.one("password changed", user_id=user, sid=mine.session_id)
    lines.one("revoked: user", user_id=user, reason="password_change")

    codes = [
        await status_of(s.stub.Login(pb.LoginRequest(email=email, password=WRONG), metadata=s.md()))
        for _ in range(8)
    ]
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert any(line["msg"] == "login throttled" and line["user_id"] == user for line in lines.all())

    assert_ids_only(lines.all(), secrets=[email, PASSWORD, WRONG, mine.access_token])


async def test_signing_key_rotation_and_each_state_change_is_logged(start_identity, lines: Lines):
    clock = FixedClock()
    s = await start_identity("sqlite", clock=clock, jwks_max_age=timedelta(seconds=10))
    old_kid = s.app.keyring.signing_key.kid
    new = await s.app.keyring.rotate()
    lines.one("published next signing key", kid=new.kid)

    clock.advance(11)
    await s.app.keyring.maintain()
    lines.one("signing key is now current", kid=new.kid)
    lines.one("signing key is now previous", kid=old_kid)
    clock.advance(600 + 30 + 1)
    await s.app.keyring.maintain()
    lines.one("signing key is now retired", kid=old_kid)


def assert_ids_only(logged: list[dict[str, Any]], secrets: list[str]) -> None:
    """Every line has a UTC timestamp; none carries an email, a password or a token."""
    assert logged
    text = json.dumps(logged)
    assert [s[:12] for s in secrets if s in text] == []
    for line in logged:
        assert line["ts"].endswith("+00:00"), line
