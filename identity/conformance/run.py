"""Run the checks in order and print one line per property."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

import grpc
import httpx

from identity.conformance.checks import CHECKS, Options, throwaway_user
from identity.conformance.client import Deployment, Failed


@dataclass(frozen=True)
class Result:
    name: str
    passed: bool
    detail: str
    millis: float


async def run(deployment: Deployment, options: Options, out: TextIO = sys.stdout) -> list[Result]:
    session = throwaway_user()
    results: list[Result] = []
    try:
        signup = await deployment.post(
            "/auth/register", json={"email": session.email, "password": session.password}
        )
        if signup.status_code not in (200, 201):
            raise SystemExit(
                f"conformance: could not register a throwaway user ({signup.status_code})"
            )
        for name, check in CHECKS.items():
            started = time.perf_counter()
            try:
                detail, passed = await check(deployment, session, options), True
            except Failed as failure:
                detail, passed = str(failure), False
            except (httpx.HTTPError, grpc.aio.AioRpcError, KeyError, ValueError) as error:
                detail, passed = f"{type(error).__name__}: {error}"[:300], False
            result = Result(name, passed, detail, (time.perf_counter() - started) * 1000)
            results.append(result)
            print(
                f"{'PASS' if passed else 'FAIL'}  {name:<34} {result.millis:7.0f} ms  {detail}",
                file=out,
            )
    finally:
        try:
            await deployment.cleanup(session.user_id or None, session.access_token or None)
        finally:
            await deployment.close()
    count = sum(r.passed for r in results)
    print(f"conformance: {count} passed, {len(results) - count} failed", file=out)
    return results
