"""Checklist SL-10: nothing committed looks like a live secret: no private key block, no
service credential, refresh token or signed JWT literal, no dev data folder. Test fixtures
build their fake tokens at run time ("idrt_" + "A" * 43), so a literal is a real leak."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "service credential": re.compile(r"\bidsk_[A-Za-z0-9_-]{30,}"),
    "refresh token": re.compile(r"\bidrt_[A-Za-z0-9_-]{43}\b"),
    "signed JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}"),
}
NEVER_TRACKED = (".identity-dev/", "master.key", "credentials.json")


def test_no_tracked_file_holds_a_secret():
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    files = [f for f in files if f]
    assert len(files) > 50, "git ls-files found the repository"
    assert not [f for f in files if any(n in f for n in NEVER_TRACKED)]
    found = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".png", ".gz", ".binpb"} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {kind}" for kind, rx in PATTERNS.items() if rx.search(text)]
    assert found == []
