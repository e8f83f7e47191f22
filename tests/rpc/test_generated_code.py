"""The checked-in gRPC code is what scripts/gen-protos makes from protos/."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_matches_the_protos():
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen-protos"), "--check"],
        capture_output=True,
        text=True,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
