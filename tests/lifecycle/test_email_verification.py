"""Email verification, its modes, and email change confirmed by the new address (DESIGN §12)."""

from __future__ import annotations

import asyncio

import grpc

from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD
from tests.helpers import change_password, error_of, login, register_and_login, status_of
from tests.introspection.support import claims_of, introspect
from tests.lifecycle.support import register, row_counts

BAD_LINK = "invalid or expired link"
NEW_ADDRESS_PASSWORD = PASSWORD


async def _verify(s, token):
    await s.stub.VerifyEmail(pb.VerifyEmailRequest(token=token), metadata=s.md())


async def test_registration_mails_one_verify_link_and_verifying_sets_the_claim(
    mailing, catcher, unique_email
):
    s, email = mailing, unique_email()
    answer = await register(s, email, PASSWORD)
    assert answer.user_id and not answer.verification_required
    route, token = (await catcher.wait(email, "verify your email")).link()
    assert route == "verify-email" and token.startswith("idev_")
    # `optional`: signed in before verifying, with the claim false.
    before = await login(s, email)
    assert claims_of(before.access_token)["email_verified"] is False
    assert (await introspect(s, before.access_token)).email_verified is False
    await _verify(s, token)
    after = await login(s, email)
    assert claims_of(after.access_token)["email_verified"] is True
    assert (await introspect(s, after.access_token)).email_verified is True
    # A refresh of the older session mints the claim as it is now.
    refreshed = await s.stub.Refresh(
        pb.RefreshRequest(refresh_token=before.refresh_token), metadata=s.md()
    )
    assert claims_of(refreshed.access_token)["email_verified"] is True
    error = await error_of(_verify(s, token))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, BAD_LINK)


async def test_resend_voids_the_older_link_and_is_throttled(mailing, catcher, unique_email):
    s, email = mailing, unique_email()
    tokens = await register_and_login(s, email)
    _, first = (await catcher.wait(email, "verify your email")).link()
    resend = pb.ResendVerificationRequest(access_token=tokens.access_token)
    await s.stub.ResendVerification(resend, metadata=s.md())
    _, second = (await catcher.wait(email, "verify your email", after=1)).link()
    assert (await error_of(_verify(s, first))).details() == BAD_LINK
    await _verify(s, second)
    codes = [await status_of(s.stub.ResendVerification(resend, metadata=s.md())) for _ in range(5)]
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert len(catcher.to(email)) == 2  # verified: resends mail nothing


async def test_required_mode_answers_alike_and_refuses_login_until_verified(
    start_identity, catcher, unique_email
):
    s = await start_identity("sqlite", smtp_url=catcher.url, email_verification="required")
    email = unique_email()
    new = await register(s, email, PASSWORD)
    taken = await register(s, email, "another long passphrase for a stranger")
    assert new == taken == pb.RegisterResponse(verification_required=True)
    await catcher.wait(email, "someone tried to sign up")
    error = await error_of(login(s, email))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "email address not verified"
    _, token = (await catcher.wait(email, "verify your email")).link()
    await _verify(s, token)
    assert claims_of((await login(s, email)).access_token)["email_verified"] is True


async def test_off_mode_mails_nothing(start_identity, catcher, unique_email):
    s = await start_identity("sqlite", smtp_url=catcher.url, email_verification="off")
    email = unique_email()
    await register_and_login(s, email)
    await catcher.none_for(email)


async def test_a_password_change_mails_a_notice(mailing, catcher, unique_email):
    s, email = mailing, unique_email()
    tokens = await register_and_login(s, email)
    await change_password(s, tokens.access_token, PASSWORD)
    assert (await catcher.wait(email, "password was changed")).links() == []


async def _change_email(s, access_token, new_email, password=PASSWORD):
    request = pb.ChangeEmailRequest(
        access_token=access_token, new_email=new_email, password=password
    )
    await s.stub.ChangeEmail(request, metadata=s.md())


async def test_an_email_change_applies_when_the_new_address_confirms(
    mailing, catcher, unique_email
):
    s, old, new = mailing, unique_email(), unique_email()
    tokens = await register_and_login(s, old)
    await _change_email(s, tokens.access_token, new.upper())
    route, token = (await catcher.wait(new, "confirm your new email")).link()
    assert route == "confirm-email"
    assert (await login(s, old)).access_token  # nothing changed yet
    await s.stub.ConfirmEmailChange(pb.ConfirmEmailChangeRequest(token=token), metadata=s.md())
    assert claims_of((await login(s, new)).access_token)["email_verified"] is True
    assert await status_of(login(s, old)) == grpc.StatusCode.UNAUTHENTICATED
    notice = await catcher.wait(old, "email address was changed")
    assert notice.links() == []


async def test_an_email_change_needs_the_password(mailing, unique_email):
    s = mailing
    tokens = await register_and_login(s, unique_email())
    before = await row_counts(s)
    error = await error_of(_change_email(s, tokens.access_token, unique_email(), "wrong one!"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await row_counts(s))["link_tokens"] == before["link_tokens"]


async def test_the_new_address_must_still_be_free_when_it_confirms(mailing, catcher, unique_email):
    s, new = mailing, unique_email()
    tokens = await register_and_login(s, unique_email())
    await _change_email(s, tokens.access_token, new)
    _, token = (await catcher.wait(new, "confirm your new email")).link()
    await register(s, new.upper(), PASSWORD)  # someone takes it meanwhile
    confirm = pb.ConfirmEmailChangeRequest(token=token)
    error = await error_of(s.stub.ConfirmEmailChange(confirm, metadata=s.md()))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_changing_to_a_taken_address_answers_alike_and_mails_nobody(
    mailing, catcher, unique_email
):
    s, taken = mailing, unique_email()
    await register_and_login(s, taken)
    tokens = await register_and_login(s, unique_email())
    await catcher.wait(taken, "verify your email")
    await _change_email(s, tokens.access_token, taken)
    await asyncio.sleep(1.0)
    assert [m.subject for m in catcher.to(taken)] == ["Verify your email address"]
