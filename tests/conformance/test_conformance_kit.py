"""Issue 7: `identity conformance` passes against a correct deployment and catches a broken one."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from tests.edge.support import running_edge


async def _kit(edge, identity, tmp_path, *extra):
    creds = tmp_path / "creds.json"
    creds.write_text(
        json.dumps(
            {"service": identity.credentials["service"], "admin": identity.credentials["admin"]}
        )
    )
    os.chmod(creds, 0o600)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "identity.cli",
        "conformance",
        "--edge",
        edge.url,
        "--grpc",
        identity.target,
        "--credentials-file",
        str(creds),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode, out.decode(), err.decode()


async def test_the_kit_passes_against_a_correct_deployment(start_identity, tmp_path):
    identity = await start_identity("postgres")
    async with running_edge(identity) as edge:
        code, out, err = await _kit(edge, identity, tmp_path)
    assert code == 0, out + err
    lines = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(lines) == 9 and all(line.startswith("PASS") for line in lines), out
    assert out.rstrip().endswith("conformance: 9 passed, 0 failed")


async def test_the_kit_fails_when_the_grace_window_is_off(start_identity, tmp_path):
    from datetime import timedelta

    identity = await start_identity("sqlite", refresh_grace=timedelta(0))
    async with running_edge(identity) as edge:
        code, out, err = await _kit(edge, identity, tmp_path)
    assert code == 1
    failed = {line.split()[1] for line in out.splitlines() if line.startswith("FAIL")}
    assert "lost_response" in failed and "concurrent_refreshes" in failed, out
