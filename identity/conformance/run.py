"""Run the checks in order and print one line per property: PASS, FAIL, or NOT CHECKED (with
what the kit would need), so that an unchecked property is never taken for a passed one."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

import grpc
import httpx

from identity.conformance.checks import CHECKS, Check, Options, Session, throwaway_user
from identity.conformance.client import Deployment, Failed, NotChecked
from identity.conformance.mail_checks import MAIL_CHECKS
from identity.domain.links import LinkPurpose

ALL_CHECKS: dict[str, Check] = {**CHECKS, **MAIL_CHECKS}


@dataclass(frozen=True)
class Result:
    name: str
    passed: bool
    detail: str
    millis: float
    checked: bool = True

    @property
    def label(self) -> str:
        return "NOT CHECKED" if not self.checked else "PASS" if self.passed else "FAIL"


async def _sign_up(deployment: Deployment, session: Session, options: Options) -> None:
    body = {"email": session.email, "password": session.password}
    signup = await deployment.post("/auth/register", json=body)
    if signup.status_code == 202 and options.mail is not None:
        # IDENTITY_EMAIL_VERIFICATION=required: no sign-in before the address is proved.
        link = await options.mail.wait_for_link(session.email, LinkPurpose.VERIFY_EMAIL)
        verified = await deployment.post("/auth/verify-email", json={"token": link.token})
        if verified.status_code == 204:
            return
        raise SystemExit(f"conformance: the sign-up link answered {verified.status_code}")
    if signup.status_code == 202:
        raise SystemExit(
            "conformance: the deployment requires verified addresses: run with --smtp-capture"
        )
    if signup.status_code not in (200, 201):
        raise SystemExit(f"conformance: could not register a throwaway user ({signup.status_code})")


async def run(deployment: Deployment, options: Options, out: TextIO = sys.stdout) -> list[Result]:
    session = throwaway_user()
    results: list[Result] = []
    try:
        await _sign_up(deployment, session, options)
        for name, check in ALL_CHECKS.items():
            started = time.perf_counter()
            checked = True
            try:
                detail, passed = await check(deployment, session, options), True
            except NotChecked as missing:
                detail, passed, checked = str(missing), False, False
            except Failed as failure:
                detail, passed = str(failure), False
            except (
                httpx.HTTPError,
                grpc.aio.AioRpcError,
                KeyError,
                ValueError,
                TimeoutError,
            ) as error:
                detail, passed = f"{type(error).__name__}: {error}"[:300], False
            result = Result(name, passed, detail, (time.perf_counter() - started) * 1000, checked)
            results.append(result)
            print(
                f"{result.label:<4}  {name:<34} {result.millis:7.0f} ms  {detail}",
                file=out,
            )
    finally:
        try:
            await deployment.cleanup(session.user_id or None, session.access_token or None)
        finally:
            await deployment.close()
    count = sum(r.passed for r in results)
    failed = sum(r.checked and not r.passed for r in results)
    unchecked = sum(not r.checked for r in results)
    summary = f"conformance: {count} passed, {failed} failed"
    print(summary + (f", {unchecked} not checked" if unchecked else ""), file=out)
    return results


def succeeded(results: list[Result]) -> bool:
    """Every property checked passed (the not-checked ones are listed, not counted)."""
    return bool(results) and all(r.passed for r in results if r.checked)
