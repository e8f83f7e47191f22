"""CR-09/CR-10: growing delays per account and per IP, never a permanent automatic lock-out."""

from __future__ import annotations

import grpc

from identity.domain.clock import FixedClock
from identity.v1 import identity_pb2 as pb
from tests.conftest import PASSWORD
from tests.helpers import error_of, login, register_and_login


def _retry_after(error: grpc.aio.AioRpcError) -> int:
    return int(dict(error.trailing_metadata() or ())["retry-after"])


async def _wrong(s, email, ip="203.0.113.9"):
    return await error_of(
        s.stub.Login(
            pb.LoginRequest(email=email, password="wrong password, very long"), metadata=s.md(ip=ip)
        )
    )


async def test_repeated_wrong_passwords_are_slowed_with_growing_delays_then_the_right_one_works(
    start_identity, unique_email
):
    clock = FixedClock()
    s = await start_identity("postgres", clock=clock)
    email = unique_email()
    await register_and_login(s, email)
    codes = [(await _wrong(s, email)).code() for _ in range(6)]
    assert codes[:5] == [grpc.StatusCode.UNAUTHENTICATED] * 5
    # The 6th failure set a delay: now every attempt is refused, even the right password.
    blocked = await error_of(
        s.stub.Login(
            pb.LoginRequest(email=email, password=PASSWORD), metadata=s.md(ip="203.0.113.9")
        )
    )
    assert blocked.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert blocked.details() == "too many attempts, try again later"
    delays = []
    for _ in range(8):
        error = await _wrong(s, email)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        delays.append(_retry_after(error))
        clock.advance(delays[-1])
        await _wrong(s, email)  # one more failure lands once the delay has passed
    assert delays == sorted(delays) and delays[-1] > delays[0]
    clock.advance(_retry_after(await _wrong(s, email)))
    tokens = await login(s, email, ip="203.0.113.9")  # no permanent lock-out
    assert tokens.access_token


async def test_at_most_a_bounded_number_of_failures_per_hour_reach_the_password_check(
    start_identity, unique_email
):
    clock = FixedClock()
    s = await start_identity("sqlite", clock=clock)
    email = unique_email()
    await register_and_login(s, email)
    checked = 0
    for _ in range(3600):  # one attempt per second for an hour
        error = await _wrong(s, email, ip=f"198.51.100.{checked % 200}")
        checked += error.code() == grpc.StatusCode.UNAUTHENTICATED
        clock.advance(1)
        if checked > 100:
            break
    assert checked < 100


async def test_unknown_emails_are_throttled_exactly_like_known_ones(start_identity, unique_email):
    clock = FixedClock()
    s = await start_identity("sqlite", clock=clock)
    known = unique_email()
    await register_and_login(s, known)
    results = {}
    for email in (known, unique_email()):
        answers = []
        for i in range(8):
            error = await _wrong(s, email, ip=f"192.0.2.{i + (0 if email == known else 100)}")
            answers.append(
                (
                    error.code(),
                    error.details(),
                    _retry_after(error)
                    if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    else None,
                )
            )
        results[email == known] = answers
    assert results[True] == results[False]


async def test_password_spraying_from_one_ip_is_slowed_by_the_ip_bucket(
    start_identity, unique_email
):
    s = await start_identity("sqlite", clock=FixedClock())
    codes = [(await _wrong(s, unique_email(), ip="192.0.2.200")).code() for _ in range(30)]
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert codes.index(grpc.StatusCode.RESOURCE_EXHAUSTED) <= 21
    # Another address is not affected.
    assert (
        await _wrong(s, unique_email(), ip="192.0.2.201")
    ).code() == grpc.StatusCode.UNAUTHENTICATED


async def test_throttling_is_shared_by_replicas_on_one_database(start_identity, pg, unique_email):
    from identity.app import IdentityApp
    from tests.conftest import Running, make_channel, settings_for

    clock = FixedClock()
    a = await start_identity("postgres", clock=clock)
    b_app = IdentityApp(settings_for(a.app.settings.database_url), clock=clock)
    port = await b_app.start()
    try:
        b = Running(
            b_app, f"127.0.0.1:{port}", a.credentials, make_channel(f"127.0.0.1:{port}"), "postgres"
        )
        email = unique_email()
        await register_and_login(a, email)
        for i in range(6):
            await _wrong(a if i % 2 else b, email)
        assert (await _wrong(b, email)).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await b.channel.close()
    finally:
        await b_app.stop(grace=0.1)


async def test_a_successful_login_ends_the_accounts_failure_streak(start_identity, unique_email):
    # 4 failures, a success, then 5 more failures: without the reset the streak would be at 9
    # and the 6th failure overall would already have set a delay.
    for backend in ("postgres", "sqlite"):
        s = await start_identity(backend, clock=FixedClock())
        email = unique_email()
        await register_and_login(s, email)
        for i in range(4):
            assert (await _wrong(s, email, ip=f"198.51.100.{i}")).code() == (
                grpc.StatusCode.UNAUTHENTICATED
            )
        await login(s, email, ip="198.51.100.77")
        codes = [(await _wrong(s, email, ip=f"198.51.100.{10 + i}")).code() for i in range(6)]
        assert codes[:5] == [grpc.StatusCode.UNAUTHENTICATED] * 5, backend
        assert codes[5] == grpc.StatusCode.UNAUTHENTICATED  # the 6th sets the delay...
        blocked = await _wrong(s, email, ip="198.51.100.99")
        assert blocked.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, backend  # ...seen here
