"""The JWK Set cache: lifetimes, outages, unknown kids, single-flight, rotation."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from identity.domain.jose import MAX_KID_LENGTH
from identity.domain.keys import KeyState
from identity.verify import JwksUnavailable, UnknownKey


def test_jwks_is_fetched_once_and_cached(verifier, jwks_server, keys, tokens):
    for _ in range(20):
        for key in keys.values():
            verifier.verify(tokens.sign(key))
    assert jwks_server.requests == 1


async def test_concurrent_cold_starts_share_one_fetch(verifier, jwks_server, keys, tokens):
    jwks_server.delay = 0.2
    token = tokens.sign(keys["ES256"])
    results = await asyncio.gather(*(verifier.averify(token) for _ in range(50)))
    assert {claims["sub"] for claims in results} == {"user-1"}
    assert jwks_server.requests == 1


def test_cache_control_max_age_is_honoured(verifier, jwks_server, clock, keys, tokens):
    jwks_server.cache_control = "public, max-age=120"
    token = tokens.sign(keys["ES256"])
    verifier.verify(token)
    clock.advance(119)
    verifier.verify(token)
    assert jwks_server.requests == 1
    clock.advance(2)
    verifier.verify(token)
    assert jwks_server.requests == 2


@pytest.mark.parametrize("cache_control", ["no-store", "no-cache", "max-age=0", "max-age=1"])
def test_a_short_max_age_never_means_a_fetch_per_request(
    verifier, jwks_server, clock, keys, tokens, cache_control
):
    jwks_server.cache_control = cache_control
    token = tokens.sign(keys["ES256"])
    for _ in range(29):
        verifier.verify(token)
        clock.advance(1)
    assert jwks_server.requests == 1
    clock.advance(1)
    verifier.verify(token)
    assert jwks_server.requests == 2


@pytest.mark.parametrize("use_async", [False, True])
async def test_last_good_jwks_is_served_while_the_endpoint_fails(
    verifier, jwks_server, clock, keys, tokens, use_async
):
    async def verify(token):
        return await verifier.averify(token) if use_async else verifier.verify(token)

    token = tokens.sign(keys["RS256"])
    await verify(token)
    jwks_server.status = 500
    clock.advance(301)
    for _ in range(10):
        assert (await verify(token))["sub"] == "user-1"
    assert jwks_server.requests == 2  # one failed refresh, then the cooldown holds
    clock.advance(30)
    await verify(token)
    assert jwks_server.requests == 3
    jwks_server.status = 200
    clock.advance(30)
    await verify(token)
    clock.advance(200)
    await verify(token)
    assert jwks_server.requests == 4  # recovered: a fresh set with its full lifetime


@pytest.mark.parametrize("use_async", [False, True])
async def test_last_good_jwks_is_served_while_the_endpoint_hangs(
    make_verifier, jwks_server, clock, keys, tokens, use_async
):
    verifier = make_verifier(fetch_timeout=0.5)
    token = tokens.sign(keys["EdDSA"])
    verifier.verify(token)
    jwks_server.delay = 5.0
    clock.advance(301)
    started = time.monotonic()
    claims = await verifier.averify(token) if use_async else verifier.verify(token)
    assert claims["sub"] == "user-1"
    assert time.monotonic() - started < 2.0
    started = time.monotonic()
    verifier.verify(token)
    assert time.monotonic() - started < 0.5  # no second wait within the cooldown


@pytest.mark.parametrize(
    "document",
    [b"not json", b"[]", {"keys": []}, {"keys": "all"}, {"keys": [{"kty": "oct", "k": "AAAA"}]}],
    ids=repr,
)
def test_last_good_jwks_survives_a_bad_document(
    verifier, jwks_server, clock, keys, tokens, document
):
    token = tokens.sign(keys["ES256"])
    verifier.verify(token)
    jwks_server.document = document
    clock.advance(301)
    assert verifier.verify(token)["sub"] == "user-1"
    assert jwks_server.requests == 2


def test_cold_start_outage_fails_closed_then_recovers(verifier, jwks_server, clock, keys, tokens):
    jwks_server.status = 500
    token = tokens.sign(keys["ES256"])
    for _ in range(5):
        with pytest.raises(JwksUnavailable):
            verifier.verify(token)
    assert jwks_server.requests == 1
    jwks_server.status = 200
    clock.advance(1)
    assert verifier.verify(token)["sub"] == "user-1"
    assert jwks_server.requests == 2


def _random_kid_token(tokens, key):
    return tokens.sign(key, kid=tokens.b64(os.urandom(12)))


def test_random_unknown_kids_cause_at_most_one_fetch(verifier, jwks_server, keys, tokens):
    verifier.verify(tokens.sign(keys["ES256"]))
    started = time.monotonic()
    for _ in range(1000):
        with pytest.raises(UnknownKey):
            verifier.verify(_random_kid_token(tokens, keys["ES256"]))
    assert jwks_server.requests <= 2
    assert time.monotonic() - started < 10


async def test_random_unknown_kids_from_an_event_loop_cause_at_most_one_fetch(
    verifier, jwks_server, keys, tokens
):
    forged = [_random_kid_token(tokens, keys["ES256"]) for _ in range(1000)]
    results = await asyncio.gather(*(verifier.averify(t) for t in forged), return_exceptions=True)
    assert all(isinstance(result, UnknownKey) for result in results)
    assert jwks_server.requests <= 2


def test_unknown_kids_over_time_cause_at_most_one_fetch_per_cooldown(
    verifier, jwks_server, clock, keys, tokens
):
    verifier.verify(tokens.sign(keys["ES256"]))
    for _ in range(600):  # ten minutes of one random kid a second
        clock.advance(1)
        with pytest.raises(UnknownKey):
            verifier.verify(_random_kid_token(tokens, keys["ES256"]))
    assert jwks_server.requests <= 1 + 600 // 30


def test_a_kid_missing_from_a_fresh_set_is_remembered(verifier, jwks_server, clock, keys, tokens):
    verifier.verify(tokens.sign(keys["ES256"]))
    repeated = _random_kid_token(tokens, keys["ES256"])
    clock.advance(31)
    with pytest.raises(UnknownKey):
        verifier.verify(repeated)
    assert jwks_server.requests == 2
    for _ in range(5):
        clock.advance(31)
        with pytest.raises(UnknownKey):
            verifier.verify(repeated)
    assert jwks_server.requests == 2
    with pytest.raises(UnknownKey):
        verifier.verify(_random_kid_token(tokens, keys["ES256"]))
    assert jwks_server.requests == 3


def test_an_overlong_kid_is_refused_without_a_fetch(verifier, jwks_server, clock, keys, tokens):
    verifier.verify(tokens.sign(keys["ES256"]))
    clock.advance(31)  # past the cooldown: an unknown kid within the limit is looked up
    with pytest.raises(UnknownKey):
        verifier.verify(tokens.sign(keys["ES256"], kid="k" * (MAX_KID_LENGTH + 1)))
    assert jwks_server.requests == 1
    with pytest.raises(UnknownKey):
        verifier.verify(tokens.sign(keys["ES256"], kid="k" * MAX_KID_LENGTH))
    assert jwks_server.requests == 2


def test_the_unknown_kid_memory_is_bounded(make_verifier, jwks_server, clock, keys, tokens):
    verifier = make_verifier(negative_cache_size=2)
    verifier.verify(tokens.sign(keys["ES256"]))
    a, b, c = (_random_kid_token(tokens, keys["ES256"]) for _ in range(3))
    for token in (a, b, c):
        clock.advance(31)
        with pytest.raises(UnknownKey):
            verifier.verify(token)
    assert jwks_server.requests == 4
    clock.advance(31)
    with pytest.raises(UnknownKey):
        verifier.verify(b)  # still remembered
    assert jwks_server.requests == 4
    with pytest.raises(UnknownKey):
        verifier.verify(a)  # evicted: looked up again
    assert jwks_server.requests == 5


def test_a_new_kid_within_the_cooldown_is_refused_without_a_fetch(
    verifier, jwks_server, clock, keys, tokens
):
    verifier.verify(tokens.sign(keys["ES256"]))
    late = tokens.new_key("ES256")
    jwks_server.publish(*keys.values(), late)
    with pytest.raises(UnknownKey):
        verifier.verify(tokens.sign(late))
    assert jwks_server.requests == 1
    clock.advance(30)
    assert verifier.verify(tokens.sign(late))["sub"] == "user-1"
    assert jwks_server.requests == 2


async def test_concurrent_misses_share_one_fetch(verifier, jwks_server, clock, keys, tokens):
    await verifier.averify(tokens.sign(keys["ES256"]))
    late = tokens.new_key("EdDSA")
    jwks_server.publish(*keys.values(), late)
    jwks_server.delay = 0.3
    clock.advance(31)
    token = tokens.sign(late)
    results = await asyncio.gather(*(verifier.averify(token) for _ in range(50)))
    assert {claims["sub"] for claims in results} == {"user-1"}
    assert jwks_server.requests == 2


def test_concurrent_misses_from_threads_share_one_fetch(verifier, jwks_server, clock, keys, tokens):
    verifier.verify(tokens.sign(keys["ES256"]))
    late = tokens.new_key("ES256")
    jwks_server.publish(*keys.values(), late)
    jwks_server.delay = 0.3
    clock.advance(31)
    token = tokens.sign(late)
    barrier = threading.Barrier(20)

    def verify():
        barrier.wait()
        return verifier.verify(token)["sub"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: verify(), range(20)))
    assert results == ["user-1"] * 20
    assert jwks_server.requests == 2


def test_a_next_key_published_ahead_verifies_without_a_miss(
    verifier, jwks_server, clock, keys, tokens
):
    current = tokens.new_key("ES256")
    upcoming = tokens.new_key("ES256", KeyState.NEXT)
    jwks_server.publish(current, upcoming)
    verifier.verify(tokens.sign(current))
    # Rotation: the next key starts signing; the old one stays published for a while, then goes.
    jwks_server.publish(upcoming, current)
    assert verifier.verify(tokens.sign(upcoming))["sub"] == "user-1"
    assert jwks_server.requests == 1
    old_token = tokens.sign(current)
    jwks_server.publish(upcoming)
    clock.advance(301)
    verifier.verify(tokens.sign(upcoming))
    assert jwks_server.requests == 2
    with pytest.raises(UnknownKey):
        verifier.verify(old_token)


def test_not_modified_renews_the_cached_set(verifier, jwks_server, clock, keys, tokens):
    jwks_server.use_etag = True
    token = tokens.sign(keys["ES256"])
    verifier.verify(token)
    clock.advance(301)
    verifier.verify(token)
    assert jwks_server.requests == 2
    clock.advance(200)
    verifier.verify(token)
    assert jwks_server.requests == 2  # the 304 gave the set a new lifetime
