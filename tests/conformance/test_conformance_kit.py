"""Issue 7: `identity conformance` passes against a correct deployment and catches a broken one."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys

from identity.domain.smtp_url import SmtpUrl
from tests.edge.support import running_edge
from tests.mail import free_port


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
    # Without a way to read the deployment's mail, the mail checks say so: never a silent pass.
    unchecked = [line.split() for line in out.splitlines() if line.startswith("NOT CHECKED")]
    assert [words[2] for words in unchecked] == ["password_reset", "email_verification"], out
    assert all("needs --smtp-capture" in line for line in out.splitlines() if "NOT" in line)
    assert out.rstrip().endswith("conformance: 9 passed, 0 failed, 2 not checked")


async def test_the_kit_checks_reset_and_verification_with_the_deployments_mail(
    start_identity, tmp_path
):
    capture = free_port()
    identity = await start_identity("sqlite", smtp_url=SmtpUrl.parse(f"smtp://127.0.0.1:{capture}"))
    async with running_edge(identity) as edge:
        code, out, err = await _kit(
            edge, identity, tmp_path, "--smtp-capture", f"127.0.0.1:{capture}"
        )
    assert code == 0, out + err
    lines = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL", "NOT"))]
    assert len(lines) == 11 and all(line.startswith("PASS") for line in lines), out
    assert "PASS  password_reset" in out and "PASS  email_verification" in out
    assert out.rstrip().endswith("conformance: 11 passed, 0 failed")
    assert not re.search(r"(idpr|idev)_[A-Za-z0-9_-]{43}", out + err)  # no link token printed


async def test_the_kit_fails_when_the_grace_window_is_off(start_identity, tmp_path):
    from datetime import timedelta

    identity = await start_identity("sqlite", refresh_grace=timedelta(0))
    async with running_edge(identity) as edge:
        code, out, err = await _kit(edge, identity, tmp_path)
    assert code == 1
    failed = {line.split()[1] for line in out.splitlines() if line.startswith("FAIL")}
    assert "lost_response" in failed and "concurrent_refreshes" in failed, out
