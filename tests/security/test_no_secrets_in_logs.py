"""SL-07 / issue 2: after the whole run, no issued token and no password appears in any log line."""

from __future__ import annotations

from tests.conftest import LOG_CAPTURE, SECRETS_SEEN


def test_no_secret_in_any_log_line():
    # Runs last (conftest orders it): by now every test's tokens and passwords are registered.
    assert LOG_CAPTURE.lines, "the capture saw no log line: the check would prove nothing"
    text = "\n".join(LOG_CAPTURE.lines)
    leaked = [s[:12] + "…" for s in SECRETS_SEEN if len(s) >= 8 and s in text]
    assert not leaked, f"secrets found in logs: {leaked}"
