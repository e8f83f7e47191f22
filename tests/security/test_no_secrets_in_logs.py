"""SL-07 / issue 7: after the whole run, no issued token and no password appears in any log line,
nor in any error answer: gRPC status details the test clients got, or non-2xx answers (headers
and body) of the edges under test."""

from __future__ import annotations

import pytest

from tests.conftest import ERROR_CAPTURE, LOG_CAPTURE, SECRETS_SEEN


def _leaked(text: str) -> list[str]:
    return [s[:12] + "…" for s in SECRETS_SEEN if len(s) >= 8 and s in text]


def test_no_secret_in_any_log_line():
    # Runs last (conftest orders it): by now every test's tokens and passwords are registered.
    assert LOG_CAPTURE.lines, "the capture saw no log line: the check would prove nothing"
    leaked = _leaked("\n".join(LOG_CAPTURE.lines))
    assert not leaked, f"secrets found in logs: {leaked}"


def test_no_secret_in_any_error_body():
    # Runs last too. Every gRPC call of the test clients and every edge answer counts as seen.
    if ERROR_CAPTURE.answers == 0:
        pytest.skip("no gRPC call and no edge request in this run")
    assert ERROR_CAPTURE.errors, "calls were seen but no error answer: the check proves nothing"
    leaked = _leaked("\n".join(ERROR_CAPTURE.errors))
    assert not leaked, f"secrets found in error answers: {leaked}"
