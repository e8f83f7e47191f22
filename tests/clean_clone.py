"""The repository as a reader has it after `git clone` and `scripts/install`, and `identity dev`
started in it the way `scripts/dev` starts it.

The clone is a copy of the tracked files (as they are in the work tree, so uncommitted changes
count). Its `.venv` links to the environment these tests run in: running `scripts/install` there
would point that environment's editable install at the copy.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_LINE = "demo page: "


def clean_clone(into: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not in the clone
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    (into / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return into


def dev_command() -> list[str]:
    """What `scripts/dev` runs once the install is done: its last line, `exec … "$@"`."""
    last = (ROOT / "scripts" / "dev").read_text().strip().splitlines()[-1]
    words = shlex.split(last)
    assert words[0] == "exec" and words[-1] == "$@", last
    return words[1:-1]


def reader_environment() -> dict[str, str]:
    """The test run's environment without any IDENTITY_* or EDGE_* setting of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "EDGE_"))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DevRun:
    process: subprocess.Popen[str]
    url: str
    stderr: Path

    def log(self) -> str:
        return self.stderr.read_text()[-4000:]


@contextlib.contextmanager
def running_dev(clone: Path, *args: str, timeout: float = 90) -> Iterator[DevRun]:
    """`identity dev` in `clone` until it prints the demo URL; Ctrl-C (SIGINT) at the end must
    stop it with exit code 0."""
    stderr = clone.parent / f"{clone.name}-dev.stderr"
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [*dev_command(), *args],
            cwd=clone,
            env=reader_environment(),
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        deadline = time.monotonic() + timeout
        line = ""
        while not line.startswith(DEMO_LINE):
            ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
            assert ready, f"no demo URL within {timeout} s\n{stderr.read_text()[-4000:]}"
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line, f"identity dev ended\n{stderr.read_text()[-4000:]}"
        yield DevRun(process, line.removeprefix(DEMO_LINE).strip(), stderr)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, stderr.read_text()[-4000:]
        assert "Traceback" not in stderr.read_text()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
