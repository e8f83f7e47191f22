"""CR-03..CR-06, CR-12, CR-13: length, NFKC, no truncation, blocklist, change-password rules."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD
from tests.helpers import (
    change_password,
    error_of,
    login,
    register_and_login,
    status_of,
    until_hashes_in_flight,
)


async def _register(s, email, password):
    return await status_of(
        s.stub.Register(pb.RegisterRequest(email=email, password=password), metadata=s.md())
    )


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("a" * 3 + "bcdefghijk" + "z", False),  # 14 characters
        ("sunflower river 9", True),
        ("x1y2z3" * 170 + "abcd", True),  # 1024 characters
        ("x1y2z3" * 171, False),  # 1026 characters
        ("password1234567", False),  # common word padded with digits
        ("qwertyuiopasdfgh", False),  # keyboard walk on the list
        ("correct horse battery staple", True),  # no composition rules
        ("aaaaaaaaaaaaaaaaaaaa", False),  # repetitive
        ("🦊🦊 emoji and ünïcödé ok", True),
        ("Password1234", False),  # checklist CR-06 (short, and common with a suffix)
        ("qwertyuiopasdf", False),  # checklist CR-06
        ("identity-login-2024", False),  # built on the service name
        ("IDENTITY identity 99", False),  # the same, in any case
    ],
)
async def test_the_policy_accepts_and_refuses(identity_server, unique_email, password, ok):
    code = await _register(identity_server, unique_email(), password)
    assert (code == grpc.StatusCode.OK) == ok, code


async def test_a_password_containing_the_email_local_part_is_refused(identity_server):
    email = f"marguerite{__import__('os').urandom(3).hex()}@example.com"
    code = await _register(identity_server, email, email.split("@")[0] + " is my name")
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_refusals_say_why_without_echoing_the_password(identity_server, unique_email):
    error = await error_of(
        identity_server.stub.Register(
            pb.RegisterRequest(email=unique_email(), password="short-secret"),
            metadata=identity_server.md(),
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "15" in error.details() and "short-secret" not in error.details()


async def test_nfkc_makes_composed_and_decomposed_spellings_one_password(
    identity_server, unique_email
):
    s = identity_server
    email = unique_email()
    await register_and_login(s, email, password="caf\u00e9 au lait tous les jours")
    await login(s, email, password="cafe\u0301 au lait tous les jours")


async def test_no_truncation_prefixes_and_extensions_fail(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    password = "".join(chr(ord("a") + i % 26) for i in range(100)) + "Z"
    await register_and_login(s, email, password=password)
    for i, attempt in enumerate((password[:72], password[:99], password + "x")):
        error = await error_of(
            s.stub.Login(
                pb.LoginRequest(email=email, password=attempt), metadata=s.md(ip=f"192.0.2.{i}")
            )
        )
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_nul_character_does_not_cut_the_password(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    password = "abcdefghijkl\u0000mnopqrstuvwxyz"
    await register_and_login(s, email, password=password)
    error = await error_of(
        s.stub.Login(pb.LoginRequest(email=email, password="abcdefghijkl"), metadata=s.md())
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_over_long_password_is_refused_before_hashing(identity_server, unique_email):
    s = identity_server
    error = await error_of(
        s.stub.Login(pb.LoginRequest(email=unique_email(), password="x" * 1025), metadata=s.md())
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "password: at most 1024 characters"


async def test_an_over_long_password_needs_no_hash_even_when_the_hash_pool_is_full(
    start_identity, unique_email
):
    """Checklist CR-12, made deterministic instead of timed: with the one hash worker and its
    queue busy, anything that needs Argon2 is shed (RESOURCE_EXHAUSTED, "too many requests"),
    so an over-long password answered INVALID_ARGUMENT was refused before any hash."""
    s = await start_identity("sqlite", hash_workers=1, hash_queue=4, argon2_time_cost=30)
    email = unique_email()
    await register_and_login(s, email)

    def sign_in(password: str = PASSWORD, who: str = email):
        return s.stub.Login(pb.LoginRequest(email=who, password=password), metadata=s.md())

    busy = [asyncio.ensure_future(sign_in()) for _ in range(5)]  # one hashing, four waiting
    try:
        await until_hashes_in_flight(5)
        # Anything needing a hash is shed now; an unknown email too (it costs the dummy hash).
        shed = await error_of(sign_in("a wrong password, long enough", unique_email()))
        assert shed.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert shed.details() == "too many requests, try again later"

        too_long = await error_of(sign_in("x" * 1025))
        assert too_long.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await asyncio.gather(*busy, return_exceptions=True)


async def test_change_password_needs_the_current_one_applies_the_policy_and_ends_other_sessions(
    identity_server, unique_email
):
    s = identity_server
    email = unique_email()
    here = await register_and_login(s, email)
    elsewhere = await login(s, email)
    wrong = await error_of(
        s.stub.ChangePassword(
            pb.ChangePasswordRequest(
                access_token=here.access_token,
                current_password="not it at all",
                new_password="a brand new passphrase",
            ),
            metadata=s.md(),
        )
    )
    assert wrong.code() == grpc.StatusCode.UNAUTHENTICATED
    weak = await error_of(
        s.stub.ChangePassword(
            pb.ChangePasswordRequest(
                access_token=here.access_token,
                current_password=PASSWORD,
                new_password="password123",
            ),
            metadata=s.md(),
        )
    )
    assert weak.code() == grpc.StatusCode.INVALID_ARGUMENT
    answer = await s.stub.ChangePassword(
        pb.ChangePasswordRequest(
            access_token=here.access_token,
            current_password=PASSWORD,
            new_password="a brand new passphrase",
        ),
        metadata=s.md(),
    )
    assert answer.revoked_sessions == 1
    assert (
        await status_of(
            s.stub.Refresh(
                pb.RefreshRequest(refresh_token=elsewhere.refresh_token), metadata=s.md()
            )
        )
        == grpc.StatusCode.UNAUTHENTICATED
    )
    # The caller's own session lives on (its old access token was issued before the change).
    rotated = await s.stub.Refresh(
        pb.RefreshRequest(refresh_token=here.refresh_token), metadata=s.md()
    )
    assert rotated.session_id == here.session_id
    assert (
        await status_of(
            s.stub.Login(
                pb.LoginRequest(email=email, password=PASSWORD), metadata=s.md(ip="192.0.2.77")
            )
        )
        == grpc.StatusCode.UNAUTHENTICATED
    )
    await login(s, email, password="a brand new passphrase")


async def test_wrong_current_passwords_count_towards_the_login_throttle(
    identity_server, unique_email
):
    """Checklist CR-13: ChangePassword is a password check like Login, so guessing through it
    is throttled the same way: after the account's free failures, even the right password
    is refused for a while."""
    s = identity_server
    email = unique_email()
    tokens = await register_and_login(s, email)

    def change(current: str) -> Any:
        return change_password(s, tokens.access_token, current)

    wrong = [await status_of(change(f"wrong guess number {i}")) for i in range(6)]
    assert wrong[:5] == [grpc.StatusCode.UNAUTHENTICATED] * 5
    login_now = s.stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=s.md())
    assert await status_of(login_now) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await status_of(change(PASSWORD)) == grpc.StatusCode.RESOURCE_EXHAUSTED
