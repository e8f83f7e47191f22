"""The claims cache: keyed by the exact token string, expiry/key/revocation re-checked on a hit."""

from __future__ import annotations

import base64
import operator
from typing import Any

import pytest

from identity.verify import (
    BadSignature,
    ExpiredToken,
    InvalidToken,
    MalformedToken,
    NotYetValid,
    RevokedToken,
    UnknownKey,
)
from identity.verify.claims_cache import ClaimsCache

from .test_verify_claims import Revocations

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _high_s(token: str, tokens: Any) -> str:
    """The same signed token with the other valid ECDSA signature (r, n - s)."""
    header, payload, signature = token.split(".")
    raw = _unb64(signature)
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    flipped = r + (P256_ORDER - s).to_bytes(32, "big")
    return f"{header}.{payload}.{tokens.b64(flipped)}"


def test_a_repeated_token_is_answered_without_a_second_signature_check(
    verifier, keys, tokens, checks
):
    for alg in ("ES256", "EdDSA", "RS256"):
        token = tokens.sign(keys[alg])
        first = verifier.verify(token)
        for _ in range(3):
            assert verifier.verify(token) == first
    assert len(checks) == 3


async def test_averify_shares_the_cache(verifier, keys, tokens, checks):
    token = tokens.sign(keys["EdDSA"])
    claims = verifier.verify(token)
    assert await verifier.averify(token) == claims
    assert len(checks) == 1


def test_cache_size_zero_checks_every_time(make_verifier, keys, tokens, checks):
    verifier = make_verifier(cache_size=0)
    token = tokens.sign(keys["ES256"])
    verifier.verify(token)
    verifier.verify(token)
    assert len(checks) == 2
    with pytest.raises(ValueError):
        make_verifier(cache_size=-1)


def test_a_hit_checks_expiry_again(verifier, keys, tokens, clock):
    start = int(tokens.now.timestamp())
    token = tokens.sign(keys["ES256"], tokens.claims(exp=start + 60))
    verifier.verify(token)
    clock.advance(60 + 30 + 1)  # past exp and the default 30 s leeway
    with pytest.raises(ExpiredToken):
        verifier.verify(token)
    with pytest.raises(ExpiredToken):
        verifier.verify(token)


def test_a_hit_checks_not_before_again_when_the_clock_goes_back(verifier, keys, tokens, clock):
    token = tokens.sign(keys["ES256"])
    verifier.verify(token)
    clock.advance(-3600)
    with pytest.raises(NotYetValid):
        verifier.verify(token)


async def test_a_hit_checks_every_revocation_again(make_verifier, keys, tokens, checks):
    revocations = Revocations()
    verifier = make_verifier(revocations=revocations)
    claims = tokens.claims()
    token = tokens.sign(keys["ES256"], claims)
    for revoke in (
        lambda: revocations.sessions.add(claims["sid"]),
        lambda: revocations.jtis.add(claims["jti"]),
        lambda: revocations.not_before.update({claims["sub"]: claims["iat"] + 1}),
    ):
        revocations.sessions.clear()
        revocations.jtis.clear()
        revocations.not_before.clear()
        assert verifier.verify(token)["jti"] == claims["jti"]
        assert verifier.verify(token)["jti"] == claims["jti"]  # a hit
        revoke()
        with pytest.raises(RevokedToken):
            verifier.verify(token)
        with pytest.raises(RevokedToken):
            await verifier.averify(token)
    assert len(checks) == 1  # every refusal above came from the cached entry


def test_another_encoding_of_a_denied_token_is_still_refused(make_verifier, keys, tokens):
    revocations = Revocations()
    verifier = make_verifier(revocations=revocations)
    claims = tokens.claims()
    token = tokens.sign(keys["ES256"], claims)
    variant = _high_s(token, tokens)
    assert variant != token
    assert verifier.verify(token)["jti"] == claims["jti"]
    # Both encodings are valid signatures of the same claims: each is cached under its string.
    assert verifier.verify(variant)["jti"] == claims["jti"]
    assert verifier.verify(token)["jti"] == claims["jti"]
    revocations.jtis.add(claims["jti"])
    for presented in (token, variant, token, variant):
        with pytest.raises(RevokedToken):
            verifier.verify(presented)


@pytest.mark.parametrize("revoke", ["jti", "session", "user"])
async def test_every_encoding_is_refused_once_revoked_and_the_cache_stays_bounded(
    make_verifier, keys, tokens, checks, revoke
):
    """Keyed by the string, a cache holds each encoding apart (DESIGN §4): what matters is that
    a revocation by jti, sid or user reaches every encoding, cached or not, and that
    re-encodings cannot grow the cache past its size."""
    revocations = Revocations()
    verifier = make_verifier(revocations=revocations, cache_size=3)
    issued = [tokens.claims() for _ in range(4)]
    encodings = []
    for claims in issued:
        token = tokens.sign(keys["ES256"], claims)
        encodings.append((claims, [token, _high_s(token, tokens)]))
    for _ in range(2):
        for claims, presented in encodings:
            for token in presented:
                assert verifier.verify(token)["jti"] == claims["jti"]
                assert len(verifier._cache) <= 3  # type: ignore[arg-type]
    assert len(checks) > len(issued) * 2  # evicted encodings were verified in full again
    for claims, _ in encodings:
        if revoke == "jti":
            revocations.jtis.add(claims["jti"])
        elif revoke == "session":
            revocations.sessions.add(claims["sid"])
        else:
            revocations.not_before[claims["sub"]] = claims["iat"] + 1
    for _, presented in encodings:
        for token in presented * 2:  # hits and misses alike
            with pytest.raises(RevokedToken):
                verifier.verify(token)
            with pytest.raises(RevokedToken):
                await verifier.averify(token)
    assert len(verifier._cache) <= 3  # type: ignore[arg-type]


def test_cached_claims_with_another_or_no_signature_are_refused(verifier, keys, tokens):
    token = tokens.sign(keys["ES256"])
    verifier.verify(token)
    header, payload, signature = token.split(".")
    other = tokens.sign(keys["ES256"]).split(".")[2]
    for forged, error in (
        (f"{header}.{payload}.{other}", BadSignature),
        (f"{header}.{payload}.{tokens.b64(bytes(64))}", BadSignature),
        (f"{header}.{payload}.", MalformedToken),
        (f"{header}.{payload}.{signature}==", MalformedToken),
        (f"{header}.{payload}", MalformedToken),
        (f" {token}", MalformedToken),
    ):
        with pytest.raises(error):
            verifier.verify(forged)
    assert verifier.verify(token)["sub"] == "user-1"


def test_same_jti_with_other_claims_is_checked_in_full(verifier, keys, tokens):
    claims = tokens.claims()
    token = tokens.sign(keys["ES256"], claims)
    verifier.verify(token)
    header, _, signature = token.split(".")
    forged = f"{header}.{tokens.b64_json({**claims, 'sub': 'admin'})}.{signature}"
    with pytest.raises(BadSignature):
        verifier.verify(forged)
    assert verifier.verify(token)["sub"] == "user-1"


def test_a_withdrawn_key_ends_its_cached_tokens(make_verifier, jwks_server, keys, tokens, clock):
    verifier = make_verifier()
    token = tokens.sign(keys["RS256"])
    verifier.verify(token)
    jwks_server.publish(keys["ES256"], keys["EdDSA"])
    clock.advance(301)  # past the JWK Set's max-age: the next call refetches
    with pytest.raises(UnknownKey):
        verifier.verify(token)


def test_a_replaced_key_under_the_same_kid_ends_its_cached_tokens(
    make_verifier, jwks_server, keys, tokens, clock
):
    verifier = make_verifier()
    token = tokens.sign(keys["ES256"])
    verifier.verify(token)
    impostor = tokens.new_key("ES256")
    jwks_server.publish({**impostor.jwk, "kid": keys["ES256"].kid}, keys["RS256"])
    clock.advance(301)
    with pytest.raises(BadSignature):
        verifier.verify(token)


def test_a_refetched_but_unchanged_key_keeps_the_entry(
    make_verifier, jwks_server, keys, tokens, clock, checks
):
    verifier = make_verifier()
    token = tokens.sign(keys["ES256"])
    verifier.verify(token)
    clock.advance(301)
    verifier.verify(token)
    assert jwks_server.requests == 2
    assert len(checks) == 1


@pytest.mark.parametrize("cache_size", [4096, 0], ids=["cached", "cache-off"])
def test_claims_handed_out_are_read_only_all_the_way_down(make_verifier, keys, tokens, cache_size):
    """One frozen payload serves every hit, so nothing in it may change: no caller can alter
    what the next one reads, with the cache on or off (the same claims either way)."""
    verifier = make_verifier(cache_size=cache_size)
    token = tokens.sign(keys["ES256"], tokens.claims(aud=["api", "billing"], extra={"a": [1]}))
    first = verifier.verify(token)
    edits = [
        lambda: first["aud"].append("admin"),
        lambda: first["aud"].__setitem__(0, "admin"),
        lambda: first["extra"]["a"].extend([2]),
        lambda: first["extra"].update(b=2),
        lambda: first["extra"].__setitem__("a", []),
        lambda: operator.setitem(first, "sub", "admin"),
    ]
    for edit in edits:
        with pytest.raises(TypeError):
            edit()
    again = verifier.verify(token)
    assert again["aud"] == ["api", "billing"] and isinstance(again["aud"], list)
    assert again["extra"] == {"a": [1]} and isinstance(again["extra"], dict)


def test_failures_are_not_cached(make_verifier, keys, tokens, checks):
    revocations = Revocations()
    verifier = make_verifier(revocations=revocations)
    claims = tokens.claims()
    revocations.jtis.add(claims["jti"])
    token = tokens.sign(keys["ES256"], claims)
    for _ in range(2):
        with pytest.raises(RevokedToken):
            verifier.verify(token)
    assert len(checks) == 2
    revocations.jtis.clear()
    verifier.verify(token)


def test_the_cache_is_bounded():
    cache = ClaimsCache(2, 30.0)
    with pytest.raises(ValueError):
        ClaimsCache(0, 30.0)
    assert len(cache) == 0


def test_the_cache_keeps_at_most_its_size(make_verifier, keys, tokens):
    verifier = make_verifier(cache_size=2)
    issued = [tokens.sign(keys["EdDSA"]) for _ in range(5)]
    for token in issued:
        verifier.verify(token)
    assert len(verifier._cache) == 2  # type: ignore[arg-type]
    for token in issued:  # evicted ones verify again in full
        verifier.verify(token)


def test_a_nested_jti_never_makes_one_token_answer_for_another(verifier, keys, tokens):
    """A payload whose first "jti" is nested, with another token's jti: its own entry."""
    claims = tokens.claims()
    nested = {"x": {"jti": claims["jti"]}, **claims, "jti": "other-jti"}
    token = tokens.sign(keys["ES256"], claims)
    verifier.verify(token)
    tricky = tokens.sign(keys["ES256"], nested)
    assert verifier.verify(tricky)["jti"] == "other-jti"
    assert verifier.verify(token)["jti"] == claims["jti"]
    with pytest.raises(InvalidToken):
        verifier.verify(tricky[:-4] + "AAAA")


def test_set_unused_bits_in_a_segment_are_refused(verifier, keys, tokens):
    """One token, one encoding: a last character carrying non-zero unused bits is refused,
    cached or not (RFC 4648 §3.5 canonical encoding, as PyJWT ≥ 2.10 requires)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    token = tokens.sign(keys["ES256"])
    verifier.verify(token)
    header, payload, signature = token.split(".")
    assert len(signature) % 4 == 2  # 64 octets: the last character carries 4 unused bits
    last = alphabet.index(signature[-1])
    for bit in (1, 2, 4, 8):
        variant = signature[:-1] + alphabet[last ^ bit]
        with pytest.raises(InvalidToken):
            verifier.verify(f"{header}.{payload}.{variant}")
    assert verifier.verify(token)["sub"] == "user-1"
