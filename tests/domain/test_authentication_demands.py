"""check_authentication: the one rule for a service's step-up demands (acr, max_auth_age),
pure, on a verified token's claims and an Introspect answer alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from identity.domain.authentication import Authentication, Level, meets
from identity.domain.errors import (
    AuthenticationTooOld,
    InsufficientAuthentication,
    InvalidToken,
    StepUpRequired,
)
from identity.domain.token_rules import check_authentication

NOW = 2_000_000_000.0


def check(token_acr, auth_time, acr=None, max_auth_age=None):
    check_authentication(token_acr, auth_time, acr=acr, max_auth_age=max_auth_age, now=NOW)


def test_no_demand_accepts_anything_even_no_claims():
    check(None, None)
    check("aal3", None)


@pytest.mark.parametrize(
    ("token_acr", "demanded", "met"),
    [
        ("aal1", "aal1", True),
        ("aal2", "aal1", True),
        ("aal2", "aal2", True),
        ("aal1", "aal2", False),
        (None, "aal1", False),
        ("", "aal1", False),
        ("aal3", "aal2", False),  # a level we do not define ranks nowhere, not above
        ("AAL2", "aal2", False),
    ],
)
def test_a_level_is_met_by_itself_and_stronger_levels_only(token_acr, demanded, met):
    assert meets(token_acr, demanded) is met
    if met:
        check(token_acr, NOW, acr=demanded)
    else:
        with pytest.raises(InsufficientAuthentication) as caught:
            check(token_acr, NOW, acr=demanded, max_auth_age=60)
        assert (caught.value.acr, caught.value.max_age) == (demanded, 60)


def test_the_age_is_measured_from_auth_time_without_leeway():
    check("aal1", NOW - 300, max_auth_age=300)
    with pytest.raises(AuthenticationTooOld) as caught:
        check("aal1", NOW - 301, max_auth_age=300)
    assert (caught.value.acr, caught.value.max_age) == (None, 300)
    with pytest.raises(AuthenticationTooOld):
        check("aal2", None, acr="aal2", max_auth_age=10**9)  # no auth_time: never recent


def test_the_level_is_checked_before_the_age():
    # Both fall short: the client learns of the level (one step-up fixes both).
    with pytest.raises(InsufficientAuthentication):
        check("aal1", NOW - 10**6, acr="aal2", max_auth_age=60)


def test_the_refusals_are_invalid_tokens():
    for error in (InsufficientAuthentication, AuthenticationTooOld):
        assert issubclass(error, StepUpRequired) and issubclass(error, InvalidToken)
    assert len({InsufficientAuthentication.code, AuthenticationTooOld.code}) == 2


@pytest.mark.parametrize(
    "demand",
    [{"acr": "aal3"}, {"acr": "AAL2"}, {"max_auth_age": -0.5}, {"max_auth_age": float("nan")}],
)
def test_a_demand_no_token_could_meet_is_refused_as_a_bug(demand):
    with pytest.raises(ValueError):
        check("aal2", NOW, **demand)


def test_what_a_session_records_meets_the_levels_it_should():
    at = datetime.fromtimestamp(NOW, UTC)
    assert meets(Authentication.password(at).acr, Level.AAL1)
    assert not meets(Authentication.password(at).acr, Level.AAL2)
    assert meets(Authentication.second_factor(at).acr, Level.AAL2)
