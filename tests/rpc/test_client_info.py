"""The end user's address and agent that identity records come cut to their limits and printable,
whatever a caller's metadata carried."""

from __future__ import annotations

from identity.rpc.auth import _clean


def test_printable_values_are_kept_and_cut_to_the_limit():
    assert _clean("Mozilla/5.0 (X11)", 64) == "Mozilla/5.0 (X11)"
    assert _clean("a" * 300, 256) == "a" * 256


def test_unprintable_characters_become_question_marks_within_the_limit():
    assert _clean("agent\x00\x1b[31m\u2028end", 64) == "agent??[31m?end"
    assert _clean("\x07" * 10, 4) == "????"
