"""Properties of the token parser (issue 7, fuzzing): whatever string arrives, the answer is
claims or an InvalidToken, never another exception; and no one-character change of a valid
token is accepted, also after the original was verified and cached."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.verify import InvalidToken

B64URL = string.ascii_letters + string.digits + "-_"
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Shapes near a token: segments of the base64url alphabet (and a few strays) joined by dots.
segment = st.text(alphabet=B64URL + "=+/. \x00é", max_size=60)
near_tokens = st.lists(segment, min_size=1, max_size=5).map(".".join)


@FUZZ
@given(candidate=st.one_of(st.text(max_size=300), near_tokens))
def test_any_string_gives_invalid_token_and_nothing_else(verifier, candidate):
    with pytest.raises(InvalidToken):
        verifier.verify(candidate)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
@FUZZ
@given(data=st.data())
def test_no_one_character_change_of_a_valid_token_is_accepted(verifier, keys, tokens, alg, data):
    token = tokens.sign(keys[alg])
    verifier.verify(token)  # the original is valid, and now cached
    position = data.draw(st.integers(0, len(token) - 1), label="position")
    replacement = data.draw(st.sampled_from(B64URL + "."), label="replacement")
    mutated = token[:position] + replacement + token[position + 1 :]
    if mutated == token:
        return
    with pytest.raises(InvalidToken):
        verifier.verify(mutated)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
@FUZZ
@given(data=st.data())
def test_cut_or_rearranged_tokens_are_refused(verifier, keys, tokens, alg, data):
    token = tokens.sign(keys[alg])
    verifier.verify(token)
    header, payload, signature = token.split(".")
    cut = data.draw(st.integers(1, len(token) - 1), label="cut")
    candidates = [
        token[:cut],
        token[cut:],
        f"{header}.{payload}.",
        f"{header}.{payload}",
        f"{payload}.{header}.{signature}",
        f"{header}.{payload}.{signature}.{signature}",
        f"{header}.{payload}.{signature}=",
        f"{header}.{payload}.{signature[:-1]}",
    ]
    for candidate in candidates:
        with pytest.raises(InvalidToken):
            verifier.verify(candidate)
