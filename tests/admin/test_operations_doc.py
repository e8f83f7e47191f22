"""docs/OPERATIONS.md works as written: every shell block in it runs, in order, from the root of
a clean clone, against `identity dev` started as `scripts/dev` starts it, through the real grpcurl
binary and server reflection, and does what the text says.

What a reader would do by hand, the test does the same way: it signs the user up through the
demo edge, and fills each `export X=…` placeholder with the value the text says to copy from the
output above. The one change to the text: `identity dev` listens on free ports, not the defaults
(127.0.0.1:50051, 127.0.0.1:8080), which another program on the test machine may hold."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
from prometheus_client import Counter, Gauge, Histogram

from identity import metrics
from identity.dev_server import GRPC_LISTEN
from identity.domain.totp import code_at, time_step
from identity.v1 import admin_pb2 as apb
from identity.v1 import admin_pb2_grpc, identity_pb2_grpc
from identity.v1 import identity_pb2 as pb
from tests.clean_clone import clean_clone, free_port, reader_environment, running_dev
from tests.conftest import PASSWORD
from tests.edge.support import CSRF, cookie_header, refresh_cookie
from tests.introspection.support import claims_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
PLACEHOLDER = re.compile(r"^export (\w+)=….*$", re.MULTILINE)
# The user the runbook works on, signed up with other capitals: emails are case-insensitive.
SIGNED_UP_AS = "Alice@Example.com"


def shell_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def documented_commands() -> list[str]:
    """Each shell block that runs grpcurl, without its `export X=…` lines."""
    return [
        "\n".join(line for line in block.splitlines() if not line.startswith("export "))
        for block in shell_blocks()
        if "grpcurl " in block
    ]


def test_the_runbook_covers_every_admin_method():
    text = "\n".join(documented_commands())
    for method in apb.DESCRIPTOR.services_by_name["IdentityAdmin"].methods:
        assert f"identity.v1.IdentityAdmin/{method.name}" in text, method.name
    for command in documented_commands():
        assert command.startswith(".venv/bin/grpcurl -plaintext ")
        called = command.split("<<")[0].split('"$TARGET"')[-1]
        # An RPC, not list/describe; health, like reflection, is public (README, "Callers").
        if "/" in called and "grpc.health.v1.Health/" not in called:
            assert '-H "authorization: Bearer $ADMIN"' in command


async def run(block: str, env: dict[str, str], cwd: Path) -> tuple[str, dict[str, str]]:
    """Run one block in bash; its output, and the environment it leaves (its exports)."""
    left = cwd.parent / "runbook.env"
    script = f"set -euo pipefail\n{block}\nenv -0 > {shlex.quote(str(left))}\n"
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, f"{block}\n{err.decode()}"
    pairs = (item.partition("=") for item in left.read_text().split("\0") if "=" in item)
    return out.decode(), {name: value for name, _, value in pairs}


class Reader:
    """What the reader did on the demo page before opening the runbook, and what they copy."""

    def __init__(self) -> None:
        self.user_id = ""
        self.listed_sid = ""  # the session the runbook revokes
        self.leaked = ""  # the access token whose jti the runbook denies
        self.secrets: list[str] = []
        self.outputs: dict[str, Any] = {}

    async def use_the_demo(self, edge: str, email: str) -> None:
        async with httpx.AsyncClient(base_url=edge, timeout=30) as client:
            body = {"email": SIGNED_UP_AS, "password": PASSWORD}
            assert (await client.post("/auth/register", json=body)).status_code == 201
            body["email"] = email
            sessions = []
            for _ in range(3):
                login = await client.post("/auth/login", json=body)
                assert login.status_code == 200
                sessions.append((login.json()["access_token"], refresh_cookie(login)))
            (first, _), (self.leaked, _), (_, stolen) = sessions
            claims = claims_of(first)
            self.user_id, self.listed_sid = claims["sub"], claims["sid"]
            # A refresh token replayed after rotation: a reuse incident.
            rotated = stolen
            for _ in range(2):
                answer = await client.post(
                    "/auth/refresh", headers={**CSRF, **cookie_header(rotated)}
                )
                assert answer.status_code == 200
                rotated = refresh_cookie(answer)
                self.secrets += [answer.json()["access_token"], rotated]
            replay = await client.post("/auth/refresh", headers={**CSRF, **cookie_header(stolen)})
            assert replay.status_code == 401
            self.secrets += [first, self.leaked, stolen] + [c for _, c in sessions]

    def copy(self, name: str) -> str:
        """The value an `export NAME=…` line tells the reader to copy from the output above."""
        match name:
            case "SESSION_ID":
                listed = {s["sessionId"] for s in self.outputs["ListUserSessions"]["sessions"]}
                assert self.listed_sid in listed
                return self.listed_sid
            case "TOKEN":
                return self.leaked
            case "JTI":
                return str(self.outputs["Introspect"]["jti"])
            case "BEFORE_ID":
                page = self.outputs["ListAuditEvents:email"]["events"]
                return str(page[-1]["id"])  # the last of the page: the smallest id seen
        raise AssertionError(f"the runbook asks to copy {name}, which this test cannot")


def enrol_totp(target: str, edge: str, email: str) -> list[str]:
    """Enrol a TOTP factor for the user, as the demo page does; the secrets seen on the way."""
    with grpc.insecure_channel(target) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        md = [("authorization", f"Bearer {edge}")]
        login = stub.Login(pb.LoginRequest(email=email, password=PASSWORD), metadata=md)
        began = stub.BeginTotpEnrollment(
            pb.BeginTotpEnrollmentRequest(access_token=login.access_token, password=PASSWORD),
            metadata=md,
        )
        secret = base64.b32decode(began.secret)
        code = code_at(secret, time_step(datetime.now(UTC)))
        confirmed = stub.ConfirmTotpEnrollment(
            pb.ConfirmTotpEnrollmentRequest(access_token=login.access_token, code=code),
            metadata=md,
        )
    return [login.access_token, login.refresh_token, began.secret, confirmed.access_token] + list(
        confirmed.recovery_codes
    )


def long_history(target: str, admin: str, email: str, calls: int) -> None:
    """More audit events on the user than one page of the runbook's listing holds."""
    with grpc.insecure_channel(target) as channel:
        admin_stub = admin_pb2_grpc.IdentityAdminStub(channel)
        for _ in range(calls):
            admin_stub.ListUserSessions(
                apb.ListUserSessionsRequest(email=email),
                metadata=[("authorization", f"Bearer {admin}")],
                timeout=10,
            )


async def test_every_documented_command_works_against_identity_dev(tmp_path):
    clone = clean_clone(tmp_path / "clone")
    default_target = GRPC_LISTEN.default
    target = f"127.0.0.1:{free_port()}"
    flags = ("--grpc-listen", target, "--edge-listen", f"127.0.0.1:{free_port()}")
    with running_dev(clone, *flags) as dev:
        blocks = shell_blocks()
        setup = blocks[0]
        assert f"export TARGET={default_target} " in setup
        email = re.search(r"^export EMAIL=(\S+)", setup, re.MULTILINE)
        actor = re.search(r"--name (\S+)", setup)
        assert email and actor and email.group(1) != SIGNED_UP_AS
        reader = Reader()
        await reader.use_the_demo(dev.url, email.group(1))
        dev_credentials = json.loads((clone / ".identity-dev" / "credentials.json").read_text())
        dev_admin = dev_credentials["admin"]
        # The runbook's user has an authenticator, for "A user lost their authenticator".
        reader.secrets += await asyncio.to_thread(
            enrol_totp, target, dev_credentials["edge"], email.group(1)
        )
        await asyncio.to_thread(long_history, target, dev_admin, email.group(1), 55)

        env = reader_environment()
        ran = 0
        for block in blocks:
            block = block.replace(default_target, target)
            block = PLACEHOLDER.sub(lambda m: f"export {m[1]}={reader.copy(m[1])}", block)
            out, env = await run(block, env, clone)
            if "grpcurl " in block:
                ran += 1
                check(block, out, env, reader, actor.group(1))
        assert ran >= 15
        assert env["ADMIN"].startswith("idsk_")
        reader.secrets.append(env["ADMIN"])
    # identity dev's log (JSON on stderr) holds none of the secrets that went through it.
    log = dev.stderr.read_text()
    assert [s for s in reader.secrets if s in log] == []


def check(command: str, out: str, env: dict[str, str], reader: Reader, actor: str) -> None:
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
    reader.outputs[rpc.group(1)] = answer
    match rpc.group(1):
        case "ListUserSessions":
            assert reader.listed_sid in {x["sessionId"] for x in answer["sessions"]}
        case "RevokeSession":
            assert env["SESSION_ID"] == reader.listed_sid
            assert answer == {"revoked": True}
        case "Introspect":
            assert answer["active"] is True
            assert answer["jti"] == claims_of(reader.leaked)["jti"]
        case "RevokeAccessToken":
            assert env["JTI"] == claims_of(reader.leaked)["jti"]
            assert isinstance(answer, dict)
        case "LockUser" | "UnlockUser":
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
                incident = next(e for e in events if e.get("userId") == reader.user_id)
                assert json.loads(incident["detailJson"])["cause"]
            elif "admin.LockUser" in command:
                assert events[0]["actor"] == actor
            elif "before_id" in command:
                assert all(e["userId"] == reader.user_id for e in events)
                assert all(int(e["id"]) < int(env["BEFORE_ID"]) for e in events)
            else:
                assert all(e["userId"] == reader.user_id for e in events)
                assert len(events) == 50  # a full page, so that there is one to page back to
                reader.outputs["ListAuditEvents:email"] = answer
        case "GetUser":
            assert (
                answer["userId"] == reader.user_id
                and answer["email"].lower() == env["EMAIL"].lower()
            )
            assert answer["createdAt"] and answer["lastLoginAt"]
        case "ResetSecondFactor":
            assert answer["hadSecondFactor"] is True
        case "SendPasswordReset" | "MarkEmailVerified":
            assert answer == {}
        case "ListUndeliveredMail":
            # identity dev hands mail to its own catcher, so the reset link above is usually
            # delivered already (tests/lifecycle/test_outbox.py lists undelivered mail); what
            # is listed shows no body.
            allowed = {"mailId", "kind", "recipient", "status", "tries", "lastError"}
            allowed |= {"createdAt", "nextAttemptAt"}
            assert all(set(m) <= allowed for m in answer.get("mails", []))
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
