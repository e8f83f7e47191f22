"""The operator side of the lifecycle: show a user, send a reset link, mark an address verified,
list undelivered mail; each call audited."""

from __future__ import annotations

from identity.v1 import admin_pb2 as apb
from tests.helpers import login, register_and_login
from tests.introspection.support import audit_events, claims_of
from tests.lifecycle.support import NEW_PASSWORD, reset_password


async def test_an_operator_sees_a_user_marks_them_verified_and_mails_a_reset_link(
    mailing, catcher, unique_email
):
    s, email = mailing, unique_email()
    md = s.md("admin")
    await register_and_login(s, email)
    user = await s.admin_stub.GetUser(apb.GetUserRequest(email=email.upper()), metadata=md)
    assert (user.email, user.email_verified, user.locked) == (email, False, False)
    assert user.HasField("created_at") and user.HasField("last_login_at")
    await s.admin_stub.MarkEmailVerified(
        apb.MarkEmailVerifiedRequest(user_id=user.user_id, reason="by phone"), metadata=md
    )
    assert claims_of((await login(s, email)).access_token)["email_verified"] is True
    await s.admin_stub.SendPasswordReset(
        apb.SendPasswordResetRequest(email=email, reason="ticket 1"), metadata=md
    )
    _, token = (await catcher.wait(email, "reset your password")).link()
    await reset_password(s, token)
    assert (await login(s, email, NEW_PASSWORD)).access_token
    kinds = [e.kind for e in await audit_events(s, email=email)]
    for method in ("GetUser", "MarkEmailVerified", "SendPasswordReset"):
        assert f"admin.{method}" in kinds
    assert "password_reset" in kinds


async def test_undelivered_mail_is_listed_without_bodies(start_identity, unique_email):
    s = await start_identity("sqlite")  # no SMTP server configured: mail waits
    email = unique_email()
    await register_and_login(s, email)
    answer = await s.admin_stub.ListUndeliveredMail(
        apb.ListUndeliveredMailRequest(limit=5), metadata=s.md("admin")
    )
    [mail] = answer.mails
    assert (mail.kind, mail.recipient, mail.status, mail.tries) == (
        "verify_email",
        email,
        "pending",
        0,
    )
    assert {f.name for f in apb.UndeliveredMail.DESCRIPTOR.fields}.isdisjoint(
        {"body", "text", "html", "subject", "link"}
    )
