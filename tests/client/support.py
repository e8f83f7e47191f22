"""Running the npm packages' own commands from pytest, so that one runner reports everything.

Node and the packages' node_modules (`scripts/install` runs `npm ci`) are required, never
optional: a missing one fails the test that needs it, with what to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "browser"
REACT_APP = ROOT / "examples" / "react-app"
NODE_SERVICE = ROOT / "examples" / "node-service"


def node_command(
    args: list[str],
    cwd: Path,
    stdin: str | None = None,
    timeout: float = 300,
    package: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs `args` (npm, node, a script) in `cwd`; fails the test when Node or the npm package's
    node_modules (`package`, default `cwd`) are missing."""
    assert shutil.which("node") and shutil.which("npm"), "Node 20 and npm are needed: install them"
    package = package or cwd
    assert (package / "node_modules").is_dir(), f"{package.relative_to(ROOT)}: run scripts/install"
    return subprocess.run(
        args,
        cwd=cwd,
        input=stdin,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def build_react_app() -> Path:
    """examples/react-app/dist, built from the packed client tarball."""
    result = node_command(["npm", "run", "build"], REACT_APP)
    assert result.returncode == 0, result.stdout + result.stderr
    return REACT_APP / "dist"
