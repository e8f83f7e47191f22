"""Issue 20: a service demands how (`acr`) and how recently (`max_auth_age`) the user
authenticated, per call; a valid token that falls short raises a StepUpRequired subclass, on a
cache hit as on the full check. The claims themselves are parsed strictly."""

from __future__ import annotations

import pytest

from identity.verify import (
    AuthenticationTooOld,
    InsufficientAuthentication,
    InvalidToken,
    MalformedToken,
    NotYetValid,
    StepUpRequired,
    step_up_challenge,
)

AAL1 = {"amr": ["pwd"], "acr": "aal1"}
AAL2 = {"amr": ["pwd", "otp"], "acr": "aal2"}


def _auth_time(tokens, seconds_ago: int) -> int:
    return int(tokens.now.timestamp()) - seconds_ago


def _token(keys, tokens, **claims) -> str:
    return tokens.sign(keys["ES256"], tokens.claims(**claims))


async def test_a_demand_for_aal2_refuses_aal1_and_accepts_aal2(verifier, keys, tokens):
    weak = _token(keys, tokens, auth_time=_auth_time(tokens, 5), **AAL1)
    strong = _token(keys, tokens, auth_time=_auth_time(tokens, 5), **AAL2)
    with pytest.raises(InsufficientAuthentication) as caught:
        verifier.verify(weak, acr="aal2")
    assert isinstance(caught.value, StepUpRequired) and isinstance(caught.value, InvalidToken)
    assert (caught.value.acr, caught.value.max_age) == ("aal2", None)
    with pytest.raises(InsufficientAuthentication):
        await verifier.averify(weak, acr="aal2")
    assert verifier.verify(strong, acr="aal2")["acr"] == "aal2"
    assert (await verifier.averify(strong, acr="aal2"))["amr"] == ["pwd", "otp"]
    # aal1 is met by aal1 and by anything stronger.
    verifier.verify(weak, acr="aal1")
    verifier.verify(strong, acr="aal1")


@pytest.mark.parametrize("acr", ["aal3", "AAL2", "aal2 ", "urn:example:gold", None])
def test_an_unknown_or_missing_acr_meets_no_demand(verifier, keys, tokens, acr):
    claims = tokens.claims(amr=["pwd", "otp"], auth_time=_auth_time(tokens, 5))
    if acr is not None:
        claims["acr"] = acr
    token = tokens.sign(keys["ES256"], claims)
    assert verifier.verify(token)["sub"] == "user-1"  # valid: only a demand refuses it
    for level in ("aal1", "aal2"):
        with pytest.raises(InsufficientAuthentication):
            verifier.verify(token, acr=level)


@pytest.mark.parametrize(("seconds_ago", "accepted"), [(0, True), (300, True), (301, False)])
async def test_max_auth_age_counts_from_auth_time(verifier, keys, tokens, seconds_ago, accepted):
    token = _token(keys, tokens, auth_time=_auth_time(tokens, seconds_ago), **AAL2)
    if accepted:
        assert verifier.verify(token, max_auth_age=300)["auth_time"] == _auth_time(
            tokens, seconds_ago
        )
        await verifier.averify(token, acr="aal2", max_auth_age=300)
        return
    with pytest.raises(AuthenticationTooOld) as caught:
        verifier.verify(token, max_auth_age=300)
    assert (caught.value.acr, caught.value.max_age) == (None, 300)
    with pytest.raises(AuthenticationTooOld):
        await verifier.averify(token, acr="aal2", max_auth_age=300)


def test_a_token_without_auth_time_is_never_recent_enough(verifier, keys, tokens):
    token = _token(keys, tokens, **AAL2)  # minted before the claim existed
    assert verifier.verify(token, acr="aal2")["sub"] == "user-1"
    with pytest.raises(AuthenticationTooOld):
        verifier.verify(token, max_auth_age=10**9)


def test_a_token_minted_before_the_claims_existed_is_still_valid(verifier, keys, tokens):
    claims = verifier.verify(_token(keys, tokens))
    assert "amr" not in claims and "acr" not in claims and "auth_time" not in claims


def test_the_demands_apply_on_a_cache_hit(verifier, keys, tokens, checks):
    weak = _token(keys, tokens, auth_time=_auth_time(tokens, 600), **AAL1)
    verifier.verify(weak)  # verified in full, without demands, and cached
    with pytest.raises(InsufficientAuthentication):
        verifier.verify(weak, acr="aal2")
    with pytest.raises(AuthenticationTooOld):
        verifier.verify(weak, max_auth_age=300)
    verifier.verify(weak)  # no demand, no refusal: the refusals changed nothing cached
    assert checks == [weak]  # every call after the first was a hit


def test_no_caller_can_change_the_amr_the_next_caller_reads(verifier, keys, tokens):
    token = _token(keys, tokens, auth_time=_auth_time(tokens, 5), **AAL1)
    first = verifier.verify(token)
    with pytest.raises(TypeError, match="read-only"):
        first["amr"].append("otp")  # a careless caller
    again = verifier.verify(token)
    assert again["amr"] == ["pwd"] and isinstance(again["amr"], list)


def test_a_demand_no_token_could_meet_is_a_programming_error(verifier, keys, tokens):
    token = _token(keys, tokens, auth_time=_auth_time(tokens, 5), **AAL2)
    for bad in ({"acr": "aal3"}, {"acr": ""}, {"max_auth_age": -1}, {"max_auth_age": float("nan")}):
        with pytest.raises(ValueError):
            verifier.verify(token, **bad)


@pytest.mark.parametrize(
    "claims",
    [
        {"amr": "pwd"},
        {"amr": []},
        {"amr": None},
        {"amr": ["pwd", 1]},
        {"amr": [["pwd"]]},
        {"amr": [""]},
        {"amr": ["x" * 33]},
        {"amr": ["pwd"] * 9},
        {"amr": {"pwd": True}},
        {"acr": 2},
        {"acr": ""},
        {"acr": None},
        {"acr": ["aal2"]},
        {"acr": "a" * 33},
        {"auth_time": "1893456000"},
        {"auth_time": True},
        {"auth_time": -1},
        {"auth_time": None},
        {"auth_time": 2**40},
        {"auth_time": float("nan")},
    ],
)
def test_malformed_authentication_claims_are_refused(verifier, keys, tokens, claims):
    with pytest.raises(MalformedToken):
        verifier.verify(_token(keys, tokens, **claims))


@pytest.mark.parametrize(("ahead", "accepted"), [(30, True), (31, False)])
def test_auth_time_in_the_future_allows_exactly_the_leeway(verifier, keys, tokens, ahead, accepted):
    token = _token(keys, tokens, auth_time=_auth_time(tokens, -ahead), **AAL2)
    if accepted:
        verifier.verify(token, max_auth_age=0)
    else:
        with pytest.raises(NotYetValid):
            verifier.verify(token)


def test_the_challenge_names_the_demands_rfc_9470():
    too_low = InsufficientAuthentication("aal2", 300)
    assert step_up_challenge(too_low) == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="A different authentication level is required", '
        'acr_values="aal2", max_age=300'
    )
    assert step_up_challenge(AuthenticationTooOld(None, 300.9)) == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="More recent authentication is required", max_age=300'
    )
    assert step_up_challenge(InsufficientAuthentication("aal2", None)).endswith('acr_values="aal2"')


def test_the_challenge_cannot_be_broken_out_of():
    value = step_up_challenge(InsufficientAuthentication('aal2", evil="1\r\nSet-Cookie: x', None))
    assert "\r" not in value and "\n" not in value
    assert value.endswith('acr_values="aal2\\", evil=\\"1Set-Cookie: x"')


def test_a_refusal_carries_no_token_material(verifier, keys, tokens):
    token = _token(keys, tokens, auth_time=_auth_time(tokens, 5), **AAL1)
    with pytest.raises(StepUpRequired) as caught:
        verifier.verify(token, acr="aal2", max_auth_age=60)
    assert token not in str(caught.value) and "user-1" not in str(caught.value)
    assert caught.value.message == StepUpRequired.public
    assert "user-1" not in step_up_challenge(caught.value)
