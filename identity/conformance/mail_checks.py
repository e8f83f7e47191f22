"""The account-lifecycle checks (DESIGN §12): password reset and email verification, read from
the mail the deployment sends to the kit's own SMTP server (`--smtp-capture HOST:PORT`, with the
deployment's IDENTITY_SMTP_URL pointing there). Without one they are reported as not checked.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import jwt

from identity.conformance.checks import Options, Session, login
from identity.conformance.client import Deployment, NotChecked, expect
from identity.domain.links import RESET_PREFIX, VERIFY_PREFIX, LinkPurpose
from identity.mail_catcher import MailCatcher

# How long a registration's verification mail may take to arrive; none by then means the
# deployment sends none (IDENTITY_EMAIL_VERIFICATION=off).
SIGNUP_MAIL_WAIT = 5.0


def _capture(o: Options) -> MailCatcher:
    if o.mail is None:
        raise NotChecked("needs --smtp-capture (the deployment's mail, to read the link)")
    return o.mail


def _unused_token(prefix: str) -> str:
    """Shaped like a real token, but never issued."""
    return prefix + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


async def password_reset(d: Deployment, s: Session, o: Options) -> str:
    mail = _capture(o)
    after = mail.last_number
    unknown = f"conformance-{os.urandom(6).hex()}@example.invalid"
    known_answer = await d.post("/auth/password-reset", json={"email": s.email})
    unknown_answer = await d.post("/auth/password-reset", json={"email": unknown})
    for answer in (known_answer, unknown_answer):
        expect(answer.status_code == 202, f"reset request answered {answer.status_code}, not 202")
    expect(known_answer.content == unknown_answer.content, "known and unknown addresses differ")
    link = await mail.wait_for_link(s.email, LinkPurpose.RESET_PASSWORD, after)
    expect(link.token.startswith(RESET_PREFIX), f"the reset token lacks {RESET_PREFIX}")
    confirm = "/auth/password-reset/confirm"
    refused = await d.post(confirm, json={"token": link.token, "password": "short"})
    expect(refused.status_code == 400, f"a too short password answered {refused.status_code}")
    old_cookie, old_password = s.cookie, s.password
    new_password = f"conformance kit {os.urandom(12).hex()}"
    done = await d.post(confirm, json={"token": link.token, "password": new_password})
    expect(done.status_code == 204, f"reset with the link answered {done.status_code}, not 204")
    again = await d.post(confirm, json={"token": link.token, "password": new_password})
    unknown_token = await d.post(
        confirm, json={"token": _unused_token(RESET_PREFIX), "password": new_password}
    )
    expect(again.status_code == 400, f"the used link answered {again.status_code}, not 400")
    expect(again.content == unknown_token.content, "a used link is told from an unknown one")
    expect((await d.refresh(old_cookie)).status_code == 401, "a session survived the reset")
    stale = await d.post("/auth/login", json={"email": s.email, "password": old_password})
    expect(stale.status_code == 401, f"the old password answered {stale.status_code}")
    s.password = new_password
    await login(d, s)
    expect(not mail.to(unknown), "an unknown address was mailed")
    return (
        "202 alike for known and unknown; one idpr_ link in the fragment; policy 400 keeps it; "
        "204 once, then the unknown-link 400; sessions and old password refused; new accepted"
    )


async def email_verification(d: Deployment, s: Session, o: Options) -> str:
    mail = _capture(o)
    claims: dict[str, Any] = jwt.decode(s.access_token, options={"verify_signature": False})
    expect(isinstance(claims.get("email_verified"), bool), "access tokens lack email_verified")
    if claims["email_verified"]:
        raise NotChecked("the throwaway address was verified at sign-up (required mode)")
    first = None
    try:
        first = await mail.wait_for_link(s.email, LinkPurpose.VERIFY_EMAIL, 0, SIGNUP_MAIL_WAIT)
    except TimeoutError:
        pass  # IDENTITY_EMAIL_VERIFICATION=off: no link at sign-up
    after = mail.last_number
    resent = await d.post("/auth/verify-email/resend", bearer=s.access_token)
    expect(resent.status_code == 202, f"resend answered {resent.status_code}, not 202")
    link = await mail.wait_for_link(s.email, LinkPurpose.VERIFY_EMAIL, after)
    expect(link.token.startswith(VERIFY_PREFIX), f"the verify token lacks {VERIFY_PREFIX}")
    voided = ""
    if first is not None:
        old = await d.post("/auth/verify-email", json={"token": first.token})
        expect(old.status_code == 400, f"the voided sign-up link answered {old.status_code}")
        voided = "the sign-up link voided by the resend; "
    done = await d.post("/auth/verify-email", json={"token": link.token})
    expect(done.status_code == 204, f"verify answered {done.status_code}, not 204")
    again = await d.post("/auth/verify-email", json={"token": link.token})
    expect(again.status_code == 400, f"the used link answered {again.status_code}, not 400")
    await login(d, s)
    after_claims = jwt.decode(s.access_token, options={"verify_signature": False})
    expect(after_claims.get("email_verified") is True, "the next token is not email_verified")
    if d.service_credential or d.admin_credential:
        answer = await d.introspect(s.access_token)
        expect(answer.email_verified, "Introspect does not say email_verified")
    return f"{voided}one idev_ link; 204 once, then 400; the next token says email_verified"


MAIL_CHECKS = {
    "password_reset": password_reset,
    "email_verification": email_verification,
}
