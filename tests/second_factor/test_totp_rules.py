"""The pure rules: RFC 6238 Appendix B through our code path, drift, code shapes, recovery codes,
tickets and the recent step-up rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identity.domain.authentication import Authentication
from identity.domain.errors import InvalidArgument, SecondFactorRefused
from identity.domain.second_factor import (
    RecoveryCode,
    TotpCode,
    new_recovery_codes,
    new_ticket,
    parse_code,
    recent_step_up,
    recovery_digest,
    ticket_digest,
)
from identity.domain.totp import code_at, match_step, otpauth_uri, qr_svg, time_step

RFC_SECRET = b"12345678901234567890"  # RFC 6238 Appendix B, SHA-1
# (Unix time, the RFC's 8-digit SHA-1 TOTP)
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_rfc_6238_appendix_b_vectors_through_our_code_path(unix, expected):
    step = time_step(at(unix))
    assert code_at(RFC_SECRET, step, digits=8) == expected
    # Our six digits are the RFC's eight truncated: its last six.
    assert code_at(RFC_SECRET, step) == expected[-6:]
    assert match_step(RFC_SECRET, expected[-6:], at(unix)) == step


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_one_step_of_drift_is_accepted_two_are_not(unix, expected):
    code, step = expected[-6:], time_step(at(unix))
    assert match_step(RFC_SECRET, code, at(unix + 30)) == step
    assert match_step(RFC_SECRET, code, at(unix - 30)) == step
    assert match_step(RFC_SECRET, code, at(unix + 60)) is None
    assert match_step(RFC_SECRET, code, at(unix - 60)) is None


def test_a_wrong_code_matches_no_step():
    assert match_step(RFC_SECRET, "000000", at(59)) is None or code_at(RFC_SECRET, 1) == "000000"


def test_codes_are_typed_loosely_and_checked_strictly():
    assert parse_code(" 287 082 ") == TotpCode("287082")
    code = new_recovery_codes()[0]
    assert len(code) == 19 and code.count("-") == 3
    variants = [code, code.upper(), code.replace("-", ""), code.replace("-", " ")]
    assert {parse_code(v) for v in variants} == {RecoveryCode(recovery_digest(code))}
    for bad in ["", "  ", "12345", "1234567", "abcdef", "x" * 65, "12345６", "' OR 1=1 --"]:
        with pytest.raises(InvalidArgument):
            parse_code(bad)


def test_recovery_codes_are_ten_distinct_and_never_in_a_repr():
    codes = new_recovery_codes()
    assert len(set(codes)) == 10
    parsed = parse_code(codes[0])
    assert codes[0] not in repr(parsed) and codes[0].replace("-", "") not in repr(parsed)


def test_a_ticket_is_refused_unless_shaped_like_one():
    made = new_ticket(at(0), timedelta(seconds=300))
    assert made.token.startswith("idmt_") and ticket_digest(made.token) == made.digest
    assert made.token not in repr(made)
    for bad in ["", "idmt_", "idmt_" + "A" * 42, "idmt_" + "A" * 44, "idpr_" + "A" * 43, None, 5]:
        with pytest.raises(SecondFactorRefused):
            ticket_digest(bad)


def test_recent_step_up_means_aal2_within_the_max_age():
    now, max_age = at(10_000), timedelta(seconds=300)
    assert recent_step_up(Authentication.second_factor(now - max_age), now, max_age)
    assert not recent_step_up(
        Authentication.second_factor(now - max_age - timedelta(seconds=1)), now, max_age
    )
    assert not recent_step_up(Authentication.password(now), now, max_age)
    assert not recent_step_up(None, now, max_age)
    assert not recent_step_up(
        Authentication.second_factor(now + timedelta(seconds=5)), now, max_age
    )


def test_the_enrolment_uri_and_qr_code():
    uri = otpauth_uri(RFC_SECRET, "alice@example.com", "example.com")
    assert uri.startswith("otpauth://totp/example.com:alice%40example.com?secret=")
    svg = qr_svg(uri)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>") and "<?xml" not in svg
