"""`Verifier(require_email_verified=True)` refuses tokens whose user had not verified their
address, with its own InvalidToken subclass; the claim must be the JSON boolean true."""

from __future__ import annotations

import pytest

from identity.verify import InvalidToken, MalformedToken, UnverifiedEmail


@pytest.mark.parametrize("value", [False, None])
async def test_an_unverified_token_is_refused_when_verification_is_required(
    make_verifier, keys, tokens, value
):
    claims = tokens.claims()
    if value is not None:
        claims["email_verified"] = value
    token = tokens.sign(keys["ES256"], claims)
    strict = make_verifier(require_email_verified=True)
    for _ in range(2):  # the full check, then the verified-token cache's hit
        with pytest.raises(UnverifiedEmail) as caught:
            strict.verify(token)
        assert isinstance(caught.value, InvalidToken)
        with pytest.raises(UnverifiedEmail):
            await strict.averify(token)
    assert make_verifier().verify(token)["sub"] == "user-1"


async def test_a_verified_token_passes(make_verifier, keys, tokens):
    token = tokens.sign(keys["ES256"], tokens.claims(email_verified=True))
    strict = make_verifier(require_email_verified=True)
    assert strict.verify(token)["email_verified"] is True
    assert (await strict.averify(token))["email_verified"] is True


@pytest.mark.parametrize("value", ["true", 1, [True], {"v": True}])
def test_a_claim_that_is_not_a_boolean_is_malformed(verifier, keys, tokens, value):
    with pytest.raises(MalformedToken):
        verifier.verify(tokens.sign(keys["ES256"], tokens.claims(email_verified=value)))
