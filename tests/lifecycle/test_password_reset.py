"""Password reset by mailed link (DESIGN §12), over real gRPC, SMTP and both databases."""

from __future__ import annotations

import grpc
import pytest

from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD
from tests.helpers import error_of, login, register_and_login, status_of
from tests.introspection.support import introspect
from tests.lifecycle.support import (
    NEW_PASSWORD,
    request_reset,
    reset_link,
    reset_password,
    row_counts,
)

BAD_LINK = "invalid or expired link"


async def test_a_reset_ends_every_session_and_changes_only_the_password(
    mailing, catcher, unique_email
):
    s, email = mailing, unique_email()
    first = await register_and_login(s, email)
    second = await login(s, email)
    token = await reset_link(s, catcher, email)
    await reset_password(s, token)
    # Every session ended, and its access tokens with it (the user's not-before).
    for old in (first, second):
        refused = pb.RefreshRequest(refresh_token=old.refresh_token)
        assert await status_of(s.stub.Refresh(refused, metadata=s.md())) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        assert not (await introspect(s, old.access_token)).active
    assert await status_of(login(s, email, PASSWORD)) == grpc.StatusCode.UNAUTHENTICATED
    assert (await login(s, email, NEW_PASSWORD)).access_token
    notice = await catcher.wait(email, "password was reset")
    assert notice.links() == []
    # Single use: the same link again is the one bad-link error.
    error = await error_of(reset_password(s, token, "yet another passphrase, even longer"))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, BAD_LINK)


async def test_a_reset_does_not_sign_in(mailing, catcher, unique_email):
    s, email = mailing, unique_email()
    await register_and_login(s, email)
    before = (await row_counts(s))["sessions"]
    await reset_password(s, await reset_link(s, catcher, email))
    assert (await row_counts(s))["sessions"] == before


async def test_a_password_the_policy_refuses_keeps_the_link_usable(mailing, catcher, unique_email):
    s, email = mailing, unique_email()
    await register_and_login(s, email)
    token = await reset_link(s, catcher, email)
    error = await error_of(reset_password(s, token, "short"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() != BAD_LINK and "password" in error.details()
    await reset_password(s, token)
    assert (await login(s, email, NEW_PASSWORD)).access_token


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(mailing, catcher, unique_email):
    s, unknown = mailing, unique_email()
    before = await row_counts(s)
    answer = await s.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=unknown), metadata=s.md()
    )
    assert answer == pb.RequestPasswordResetResponse()
    assert (await row_counts(s))["link_tokens"] == before["link_tokens"]
    await catcher.none_for(unknown)


async def test_a_newer_link_voids_the_older(mailing, catcher, unique_email):
    s, email = mailing, unique_email()
    await register_and_login(s, email)
    older = await reset_link(s, catcher, email)
    newer = await reset_link(s, catcher, email)
    error = await error_of(reset_password(s, older))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, BAD_LINK)
    await reset_password(s, newer)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "idpr_",
        "idpr_" + "A" * 43,  # well formed, never issued
        "idev_" + "A" * 43,  # a verification token's shape
        "idpr_" + "A" * 5000,
        "idpr_' OR 1=1 --" + "A" * 28,
    ],
)
async def test_bad_tokens_get_one_error_and_write_nothing(mailing, token):
    s = mailing
    before = await row_counts(s)
    error = await error_of(reset_password(s, token))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, BAD_LINK)
    assert await row_counts(s) == before


async def test_an_expired_link_is_refused(start_identity, catcher, unique_email):
    from identity.domain.clock import FixedClock

    clock = FixedClock()
    s = await start_identity("sqlite", clock=clock, smtp_url=catcher.url)
    email = unique_email()
    await register_and_login(s, email)
    token = await reset_link(s, catcher, email)
    clock.advance(30 * 60 + 1)
    error = await error_of(reset_password(s, token))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, BAD_LINK)


async def test_reset_requests_are_throttled_per_address(mailing, unique_email):
    s, email = mailing, unique_email()
    codes = [await status_of(request_reset(s, email, ip=f"198.51.100.{n}")) for n in range(6)]
    assert codes[:4] == [grpc.StatusCode.OK] * 4
    error = await error_of(request_reset(s, email, ip="198.51.100.99"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert int(dict(error.trailing_metadata())["retry-after"]) >= 1


async def test_a_reset_clears_the_login_throttle_of_the_account(mailing, catcher, unique_email):
    s, email = mailing, unique_email()
    await register_and_login(s, email)
    wrong = pb.LoginRequest(email=email, password="not the password at all, no")
    for n in range(7):
        await status_of(s.stub.Login(wrong, metadata=s.md(ip=f"192.0.2.{n}")))
    assert await status_of(login(s, email, PASSWORD)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    await reset_password(s, await reset_link(s, catcher, email))
    assert (await login(s, email, NEW_PASSWORD)).access_token
