"""Pure rules: password normalisation and throttle delays."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.domain.errors import InvalidArgument, WeakPassword
from identity.domain.passwords import (
    MAX_EMAIL_LENGTH,
    MAX_LENGTH,
    PasswordPolicy,
    check_new_password,
    normalize_email,
    normalize_password,
)
from identity.domain.throttle import ACCOUNT_POLICY, IP_POLICY


@given(st.text(max_size=200))
def test_normalisation_is_nfkc_and_idempotent(text):
    try:
        once = normalize_password(text)
    except InvalidArgument:
        return  # lone surrogates are refused, never hashed
    assert once == unicodedata.normalize("NFKC", text)
    assert normalize_password(once) == once


@given(st.text(min_size=MAX_LENGTH + 1, max_size=MAX_LENGTH + 50))
def test_over_long_passwords_are_refused(text):
    with pytest.raises(InvalidArgument):
        normalize_password(text)


@pytest.mark.parametrize("email", ["\ufdfa" * 20 + "@example.com", "a@" + "\ufdfa" * 20 + ".com"])
def test_an_email_that_normalisation_lengthens_past_the_limit_is_refused(email):
    # Found by the edge's schemathesis run: 26 characters in, 366 after NFKC, a 500 on
    # PostgreSQL (users.email_key is VARCHAR(320)) instead of a 400.
    assert len(email) <= MAX_EMAIL_LENGTH
    with pytest.raises(InvalidArgument, match="email: at most"):
        normalize_email(email)


@given(st.text(max_size=MAX_EMAIL_LENGTH))
def test_an_email_key_never_exceeds_the_limit(text):
    try:
        key = normalize_email(text)
    except InvalidArgument:
        return
    assert len(key) <= MAX_EMAIL_LENGTH


def test_lone_surrogates_are_refused_not_crashing():
    with pytest.raises(InvalidArgument, match="not valid Unicode"):
        normalize_password("abc\ud800def")


@given(st.text(min_size=1, max_size=20))
def test_passwords_shorter_than_15_after_nfkc_never_pass_the_default_policy(text):
    # Length is counted on the normalised form: NFKC may lengthen ("¯" -> " " + U+0304).
    try:
        normalized = normalize_password(text)
    except InvalidArgument:
        return
    if len(normalized) >= 15:
        return
    with pytest.raises(WeakPassword):
        check_new_password(text, "someone@example.com", PasswordPolicy())


def test_the_minimum_can_go_down_to_8_but_not_below():
    assert check_new_password("mango tree", "a@example.com", PasswordPolicy(min_length=8))
    with pytest.raises(ValueError):
        PasswordPolicy(min_length=7)


@pytest.mark.parametrize("policy", [ACCOUNT_POLICY, IP_POLICY])
def test_delays_grow_and_are_capped(policy):
    delays = [policy.delay(n) for n in range(1, 60)]
    assert delays[: policy.free_failures] == [timedelta(0)] * policy.free_failures
    assert delays == sorted(delays)
    assert max(delays) == policy.max_delay


def test_an_account_streak_allows_fewer_than_100_failures_an_hour():
    elapsed, failures = timedelta(0), 0
    while elapsed < timedelta(hours=1):
        failures += 1
        elapsed += max(ACCOUNT_POLICY.delay(failures), timedelta(seconds=1))
    assert failures < 100


@pytest.mark.parametrize(
    "email",
    [
        "a\u3000b@example.com",  # ideographic space: " " after NFKC
        "a\u00a0b@example.com",  # no-break space
        "a@b\u2003c.com",  # em space in the domain
        "ab\uff20example.com",  # fullwidth "@": the only "@" once normalised
    ],
)
def test_the_shape_is_checked_on_the_normalised_key(email):
    """Found beside the schemathesis run: the shape was checked before NFKC, so a key with a
    space (or an "@" made by normalisation) could be stored."""
    with pytest.raises(InvalidArgument, match="not an email address"):
        normalize_email(email)


@given(st.text(max_size=80))
def test_an_accepted_email_key_is_one_address_without_whitespace(text):
    try:
        key = normalize_email(text)
    except InvalidArgument:
        return
    local, at, domain = key.rpartition("@")
    assert at and local and "." in domain
    assert not any(c.isspace() for c in key)
    assert unicodedata.normalize("NFKC", key) == key
