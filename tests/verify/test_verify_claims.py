"""Claims (JWT-11..13): required, exact issuer and audience, times with leeway, JSON types."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.domain.token_rules import REQUIRED_CLAIMS
from identity.verify import (
    ExpiredToken,
    InvalidToken,
    MalformedToken,
    NotYetValid,
    RevokedToken,
    WrongAudience,
    WrongIssuer,
)


@pytest.mark.parametrize("name", REQUIRED_CLAIMS)
def test_each_required_claim_is_required(verifier, keys, tokens, name):
    claims = tokens.claims()
    del claims[name]
    with pytest.raises(MalformedToken):
        verifier.verify(tokens.sign(keys["ES256"], claims))


@pytest.mark.parametrize(
    "iss",
    [
        "https://id.example.test/",
        "https://id.example.test.evil",
        "ttps://id.example.test",
        "https://ID.example.test",
        "https://id.example",
        "https://id.example.test ",
        "",
    ],
)
def test_issuer_must_match_exactly(verifier, keys, tokens, iss):
    with pytest.raises(InvalidToken):
        verifier.verify(tokens.sign(keys["ES256"], tokens.claims(iss=iss)))


def test_issuer_mismatch_is_wrong_issuer(verifier, keys, tokens):
    with pytest.raises(WrongIssuer):
        verifier.verify(tokens.sign(keys["ES256"], tokens.claims(iss=tokens.issuer + "/")))


def test_issuer_list_is_refused(verifier, keys, tokens):
    with pytest.raises(InvalidToken):
        verifier.verify(tokens.sign(keys["ES256"], tokens.claims(iss=[tokens.issuer])))


@pytest.mark.parametrize("aud", ["billing", "API", "api ", ["billing"], []])
def test_audience_must_contain_ours(verifier, keys, tokens, aud):
    with pytest.raises(WrongAudience):
        verifier.verify(tokens.sign(keys["ES256"], tokens.claims(aud=aud)))


def _at(tokens, offset: int) -> int:
    return int(tokens.now.timestamp()) + offset


@pytest.mark.parametrize(("offset", "accepted"), [(-30, True), (-31, False)])
def test_expiry_allows_exactly_the_leeway(verifier, keys, tokens, offset, accepted):
    token = tokens.sign(keys["ES256"], tokens.claims(exp=_at(tokens, offset)))
    if accepted:
        verifier.verify(token)
    else:
        with pytest.raises(ExpiredToken):
            verifier.verify(token)


@pytest.mark.parametrize("name", ["nbf", "iat"])
@pytest.mark.parametrize(("offset", "accepted"), [(30, True), (31, False)])
def test_future_nbf_and_iat_allow_exactly_the_leeway(
    verifier, keys, tokens, name, offset, accepted
):
    token = tokens.sign(keys["ES256"], tokens.claims(**{name: _at(tokens, offset)}))
    if accepted:
        verifier.verify(token)
    else:
        with pytest.raises(NotYetValid):
            verifier.verify(token)


def test_leeway_is_configurable_up_to_sixty_seconds(make_verifier, keys, tokens):
    late = tokens.sign(keys["ES256"], tokens.claims(exp=_at(tokens, -45)))
    make_verifier(leeway=60).verify(late)
    with pytest.raises(ExpiredToken):
        make_verifier(leeway=0).verify(
            tokens.sign(keys["ES256"], tokens.claims(exp=_at(tokens, -1)))
        )


async def test_the_injected_clock_decides_expiry(verifier, clock, keys, tokens):
    token = tokens.sign(keys["EdDSA"], tokens.claims(exp=_at(tokens, 600)))
    await verifier.averify(token)
    clock.advance(630)
    await verifier.averify(token)
    clock.advance(1)
    with pytest.raises(ExpiredToken):
        await verifier.averify(token)


WRONG_TYPES = [
    {"exp": "9999999999"},
    {"exp": 1e400},
    {"exp": float("nan")},
    {"exp": True},
    {"exp": None},
    {"exp": 2**64},
    {"exp": -1},
    {"iat": "0"},
    {"nbf": [0]},
    {"aud": {}},
    {"aud": [1]},
    {"aud": None},
    {"sub": 123},
    {"sub": ""},
    {"sub": {"id": 1}},
    {"scope": ["a"]},
    {"scope": None},
    {"jti": None},
    {"jti": 7},
    {"sid": []},
    {"client_id": False},
    {"iss": None},
]


@pytest.mark.parametrize("change", WRONG_TYPES, ids=repr)
def test_claims_of_the_wrong_json_type_are_invalid_tokens(verifier, keys, tokens, change):
    with pytest.raises(InvalidToken):
        verifier.verify(tokens.sign(keys["ES256"], tokens.claims(**change)))


@pytest.mark.parametrize("payload", [[], "claims", 1, None, [{"sub": "x"}]], ids=repr)
def test_payload_must_be_an_object(verifier, keys, tokens, payload):
    key = keys["ES256"]
    with pytest.raises(InvalidToken):
        verifier.verify(tokens.forge(tokens.header(key), payload, "ES256", key.private))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=st.sampled_from([*REQUIRED_CLAIMS, "nbf", "scope"]), value=JSON)
def test_any_json_value_in_any_claim_gives_claims_or_invalid_token(
    verifier, keys, tokens, name, value
):
    token = tokens.sign(keys["EdDSA"], tokens.claims(**{name: value}))
    try:
        claims = verifier.verify(token)
    except InvalidToken:
        return
    assert claims[name] == value


@pytest.mark.parametrize("size", [8193, 64 * 1024, 1024 * 1024])
def test_huge_tokens_are_refused_before_any_work(verifier, jwks_server, keys, tokens, size):
    padding = "x" * size
    token = tokens.sign(keys["ES256"], tokens.claims(pad=padding))
    with pytest.raises(MalformedToken):
        verifier.verify(token)
    with pytest.raises(MalformedToken):
        verifier.verify("a" * size)


@dataclass
class Revocations:
    """An in-memory revocation view, as the WatchRevocations follower will hold."""

    sessions: set[str] = field(default_factory=set)
    jtis: set[str] = field(default_factory=set)
    not_before: dict[str, int] = field(default_factory=dict)

    def session_revoked(self, sid: str) -> bool:
        return sid in self.sessions

    def user_not_before(self, sub: str) -> int | None:
        return self.not_before.get(sub)

    def jti_denied(self, jti: str) -> bool:
        return jti in self.jtis


async def test_a_plugged_in_revocation_view_refuses_revoked_tokens(make_verifier, keys, tokens):
    revocations = Revocations()
    verifier = make_verifier(revocations=revocations)
    claims = tokens.claims()
    token = tokens.sign(keys["ES256"], claims)
    assert (await verifier.averify(token))["jti"] == claims["jti"]
    for revoke in (
        lambda: revocations.sessions.add(claims["sid"]),
        lambda: revocations.jtis.add(claims["jti"]),
        lambda: revocations.not_before.update({claims["sub"]: claims["iat"] + 1}),
    ):
        revocations.sessions.clear()
        revocations.jtis.clear()
        revocations.not_before.clear()
        verifier.verify(token)
        revoke()
        with pytest.raises(RevokedToken):
            verifier.verify(token)
        with pytest.raises(RevokedToken):
            await verifier.averify(token)
